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
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .blocklist import active_blocks
from .matcher import NetworkSet
from .models import AllowedIP

logger = logging.getLogger(__name__)

FORMATS = ("nginx", "ipset", "csv", "json")
IPSET_NAMES = {4: "security-block-v4", 6: "security-block-v6"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def subtract(blocked: list[tuple[int, int]], allowed: list[tuple[int, int]]):
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
    blocked = NetworkSet(active_blocks().values_list("ip_address", flat=True))
    allowed = NetworkSet(AllowedIP.objects.values_list("ip_address", flat=True))
    networks: list[Network] = []
    for version, address in ((4, ipaddress.IPv4Address), (6, ipaddress.IPv6Address)):
        for first, last in subtract(blocked.ranges(version), allowed.ranges(version)):
            networks.extend(ipaddress.summarize_address_range(address(first), address(last)))
    return networks


def render(networks: list[Network], fmt: str) -> str:
    stamp = timezone.now().isoformat(timespec="seconds")
    if fmt == "nginx":
        lines = [f"# security blocklist, {len(networks)} networks, {stamp}"]
        lines += [f"deny {network};" for network in networks]
        return "\n".join(lines) + "\n"
    if fmt == "ipset":
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
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["network", "first_address", "last_address", "addresses"])
        for network in networks:
            writer.writerow(
                [network, network.network_address, network.broadcast_address, network.num_addresses]
            )
        return out.getvalue()
    if fmt == "json":
        return (
            json.dumps(
                {
                    "generated_at": stamp,
                    "count": len(networks),
                    "networks": [str(n) for n in networks],
                },
                indent=1,
            )
            + "\n"
        )
    raise ValueError(f"unknown format {fmt!r}")


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


def export_configured() -> bool:
    """SECURITY_EXPORT's file and command, after a change. False if nothing is configured."""
    options = getattr(settings, "SECURITY_EXPORT", None)
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
