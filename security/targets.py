"""Parsing what operators type: block targets and durations. Errors name the bad input."""

import ipaddress
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path


class InvalidInput(ValueError):
    pass


MAX_TARGET_LENGTH = 64
MAX_DURATION = timedelta(days=3650)
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION_RE = re.compile(r"(\d{1,7})([smhdw])")


def parse_target(text: str) -> str:
    """The normal form of an address or CIDR network: '10.0.0.0/8', '2001:db8::1'."""
    value = text.strip()
    shown = value if len(value) <= MAX_TARGET_LENGTH else value[:MAX_TARGET_LENGTH] + "..."
    if not value or len(value) > MAX_TARGET_LENGTH or not value.isascii():
        raise InvalidInput(f"{shown!r} is not an IPv4/IPv6 address or CIDR network")
    try:
        if "/" not in value:
            address = ipaddress.ip_address(value)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                return str(address.ipv4_mapped)
            return str(address)
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            if "host bits set" in str(error):
                fixed = ipaddress.ip_network(value, strict=False)
                raise InvalidInput(f"{shown!r} has host bits set; did you mean {fixed}?") from error
            raise
    except ValueError as error:
        if isinstance(error, InvalidInput):
            raise
        raise InvalidInput(f"{shown!r} is not an IPv4/IPv6 address or CIDR network") from error
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def parse_targets(texts: Iterable[str]) -> list[str]:
    """All targets normalised and deduplicated, or InvalidInput for the first bad one."""
    seen: dict[str, None] = {}
    for text in texts:
        seen[parse_target(text)] = None
    return list(seen)


def read_target_file(path: str) -> list[str]:
    """Targets from a file: one per line, '#' starts a comment, blank lines ignored."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read {path}: {error}") from error
    targets = []
    for number, line in enumerate(content.splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            targets.append(parse_target(text))
        except InvalidInput as error:
            raise InvalidInput(f"{path}:{number}: {error}") from error
    return targets


def parse_duration(text: str) -> timedelta:
    """'30m', '12h', '7d', '2w', or a combination such as '1d12h'."""
    value = text.strip().lower()
    parts = DURATION_RE.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise InvalidInput(f"{text!r} is not a duration (use e.g. 30m, 12h, 7d)")
    duration = sum(
        (timedelta(**{DURATION_UNITS[unit]: int(number)}) for number, unit in parts), timedelta()
    )
    if duration <= timedelta(0):
        raise InvalidInput(f"{text!r} is not a positive duration")
    if duration > MAX_DURATION:
        raise InvalidInput(
            f"{text!r} is longer than 10 years; leave out --expires to block for good"
        )
    return duration
