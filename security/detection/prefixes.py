"""What a client is, for counting and for automatic blocks: an IPv4 address, or the IPv6
prefix it sits in (SECURITY_DETECT_IPV6_PREFIX, /64 by default: one subscriber's network), so
that rotating addresses inside a prefix does not start a new count each time."""

import ipaddress
from functools import lru_cache

from .config import detect_conf

MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@lru_cache(maxsize=65536)
def _prefix(ip: str, length: int) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 4 or length >= 128:
        return ip
    network = ipaddress.IPv6Network(f"{address}/{length}", strict=False)
    # A prefix that covers the IPv4-mapped range would stand for every IPv4 client.
    return ip if network.overlaps(MAPPED) else str(network)


def client_key(ip: str) -> str:
    if ":" not in ip:
        return ip  # IPv4 is counted per address; no need to read the setting
    return _prefix(ip, detect_conf.IPV6_PREFIX)
