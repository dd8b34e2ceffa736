"""The active blocklist for the edge: merged networks with the allowlist cut out, written for
nginx (`deny` lines), ipset (`ipset restore` input), CSV or JSON, so a proxy or firewall can
turn blocked clients away before they cost Django anything.

With SECURITY_EXPORT = {"format": "nginx", "path": "/etc/nginx/conf.d/blocklist.conf",
"command": ["nginx", "-s", "reload"]} the worker rewrites the file (atomically) and runs the
command after every change of the blocklist, at most once every few seconds.
"""

import csv
import io
import ipaddress
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone

from ..conf import conf
from ..models import AllowedIP, BlockedIP
from ..typos import unknown_keys

logger = logging.getLogger(__name__)

IPSET_NAMES = {4: "security-block-v4", 6: "security-block-v6"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def subtract(
    blocked: list[tuple[int, int]], allowed: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Sorted, merged ranges minus sorted, merged ranges."""
    result = []
    index = 0
    for start, end in blocked:
        while index < len(allowed) and allowed[index][1] < start:
            index += 1
        cursor, probe = start, index
        while probe < len(allowed) and allowed[probe][0] <= end:
            low, high = allowed[probe]
            if low > cursor:
                result.append((cursor, low - 1))
            cursor = max(cursor, high + 1)
            probe += 1
        if cursor <= end:
            result.append((cursor, end))
    return result


def active_networks() -> list[Network]:
    blocked = BlockedIP.objects.active().networks()
    allowed = AllowedIP.objects.networks()
    networks: list[Network] = []
    for version, address in ((4, ipaddress.IPv4Address), (6, ipaddress.IPv6Address)):
        for first, last in subtract(blocked.ranges(version), allowed.ranges(version)):
            networks.extend(ipaddress.summarize_address_range(address(first), address(last)))
    return networks


def render_nginx(networks: list[Network], stamp: str) -> str:
    lines = [f"# security blocklist, {len(networks)} networks, {stamp}"]
    lines += [f"deny {network};" for network in networks]
    return "\n".join(lines) + "\n"


def render_ipset(networks: list[Network], stamp: str) -> str:
    lines = []
    for version, name in IPSET_NAMES.items():
        family = "inet" if version == 4 else "inet6"
        members = [network for network in networks if network.version == version]
        lines.append(
            f"create {name} hash:net family {family} maxelem {max(65536, len(members))} -exist"
        )
        lines.append(f"flush {name}")
        lines += [f"add {name} {network} -exist" for network in members]
    return "\n".join(lines) + "\n"


def render_csv(networks: list[Network], stamp: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["network", "first_address", "last_address", "addresses"])
    for network in networks:
        writer.writerow(
            [network, network.network_address, network.broadcast_address, network.num_addresses]
        )
    return out.getvalue()


def render_json(networks: list[Network], stamp: str) -> str:
    document = {
        "generated_at": stamp,
        "count": len(networks),
        "networks": [str(n) for n in networks],
    }
    return json.dumps(document, indent=1) + "\n"


# A new format is one renderer and one name here.
FORMATS: dict[str, Callable[[list[Network], str], str]] = {
    "nginx": render_nginx,
    "ipset": render_ipset,
    "csv": render_csv,
    "json": render_json,
}


def render(networks: list[Network], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    return FORMATS[fmt](networks, timezone.now().isoformat(timespec="seconds"))


def write_atomically(path: str, text: str) -> None:
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


EXPORT_OPTIONS = ("format", "path", "command")


def export_problem(options: object) -> str:
    """What is wrong with SECURITY_EXPORT ("" if nothing); ip_tracking.E010 names it."""
    if not isinstance(options, dict):
        return "must be a dict like {'format': 'nginx', 'path': ..., 'command': [...]}"
    unknown = unknown_keys(options, EXPORT_OPTIONS)
    if unknown:
        return unknown
    if options.get("format", "nginx") not in FORMATS:
        return f"format must be one of {', '.join(FORMATS)}, not {options['format']!r}"
    if not isinstance(options.get("path"), str) or not options["path"]:
        return "path must name the file to write"
    command = options.get("command")
    if command is not None and not (
        isinstance(command, list | tuple)
        and command
        and all(isinstance(part, str) for part in command)
    ):
        return "command must be a list of strings, like ['nginx', '-s', 'reload']"
    return ""


def export_configured() -> bool:
    """SECURITY_EXPORT's file and command, after a change. False if nothing is configured."""
    options = conf.EXPORT
    if not options:
        return False
    write_atomically(options["path"], render(active_networks(), options.get("format", "nginx")))
    command = options.get("command")
    if command:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            logger.error(
                "export hook %s failed (exit %d): %s",
                command[0],
                result.returncode,
                (result.stderr or result.stdout).strip()[:300],
            )
    return True
