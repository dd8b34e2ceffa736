"""The one function that decides who the client is.

Why not django-ipware / python-ipware: their defaults believe about twenty client-settable
headers, and their trusted-proxy list matches by string prefix ("10.0.0.1" also trusts
"10.0.0.100") without ever checking the direct peer. The rule here is short enough to state
and test completely:

1. The direct peer (REMOTE_ADDR) is the client unless it is a configured trusted proxy.
2. Only then is the forwarded header read, right to left; trusted hops are skipped and the
   first untrusted address is the client. Everything left of it was written by that client
   and is ignored.
3. A malformed hop stops the walk: the last trusted hop is answerable for it, so it is the
   client we attribute the request to.
"""

import ipaddress
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from .conf import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_UNSET = object()

# Header values longer than this are not a proxy chain anyone runs; don't parse megabytes.
MAX_FORWARDED_LENGTH = 4096


# Cached: the same few peers and proxies are parsed again on every request. Bounded, so a
# flood of forged header values only churns it.
@lru_cache(maxsize=16384)
def parse_ip(value: str) -> IPAddress | None:
    """Parse one address as proxies write it: '1.2.3.4', '1.2.3.4:80', '[::1]:80', '::1%eth0'."""
    value = value.strip().strip('"')
    if not value or len(value) > 64:
        return None
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        value = value[1:end]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    value = value.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=16384)
def normalise_ip(value: str) -> str | None:
    """The canonical text of an address, or None; what most requests need (no proxies)."""
    address = parse_ip(value)
    return None if address is None else str(address)


@lru_cache(maxsize=8)
def compile_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"SECURITY_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
            ) from error
    return tuple(networks)


def is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def resolve_client_ip(meta: dict, trusted_proxies: tuple[str, ...], header: str) -> str | None:
    remote_addr = str(meta.get("REMOTE_ADDR") or "")
    networks = compile_networks(trusted_proxies)
    if not networks:
        return normalise_ip(remote_addr)
    peer = parse_ip(remote_addr)
    if peer is None:
        return None
    if not is_trusted(peer, networks):
        return str(peer)
    forwarded = str(meta.get(header) or "")
    if not forwarded or len(forwarded) > MAX_FORWARDED_LENGTH:
        return str(peer)
    client = peer
    for hop in reversed(forwarded.split(",")):
        address = parse_ip(hop)
        if address is None:
            break
        client = address
        if not is_trusted(address, networks):
            break
    return str(client)


def get_client_ip(request: HttpRequest) -> str | None:
    """The client IP of this request, computed once and kept on the request."""
    cached = request.__dict__.get("client_ip", _UNSET)
    if cached is not _UNSET:
        return cached
    proxies = conf.TRUSTED_PROXIES
    header = conf.FORWARDED_HEADER if proxies else ""
    ip = resolve_client_ip(request.META, proxies, header)
    request.client_ip = ip  # type: ignore[attr-defined]
    return ip


def ratelimit_ip(request: HttpRequest) -> str:
    """RATELIMIT_IP_META_KEY: django-ratelimit keys on our client IP, never on raw headers."""
    # An unparseable peer (e.g. a unix socket without a trusted proxy) shares one bucket:
    # limiting too much beats not limiting at all.
    return get_client_ip(request) or "0.0.0.0"
