"""The one function that decides who the client is.

Why not django-ipware / python-ipware: their defaults believe about twenty client-settable
headers, and their trusted-proxy list matches by string prefix ("10.0.0.1" also trusts
"10.0.0.100") without ever checking the direct peer. The rule here is short enough to state
and test completely:

1. The direct peer (REMOTE_ADDR) is the client unless it is a configured trusted proxy. A
   unix-socket peer (empty REMOTE_ADDR) is a proxy only when the entry `unix` says so.
2. Only then is the forwarded header read, right to left; trusted hops are skipped and the
   first untrusted address is the client. Everything left of it was written by that client
   and is ignored. A header of any length is read from its right end with bounded work: the
   right-most hops are the ones the proxies wrote.
3. A malformed hop stops the walk: the last trusted hop is answerable for it, so it is the
   client we attribute the request to. If the right-most hop itself (written by the proxy
   that connected) names no address, the client is unknown, never the proxy.
   `SECURITY_FORWARDED_HEADER = "HTTP_FORWARDED"` reads RFC 7239 elements (`for=...;proto=`).
4. When no address can be named (a unix-socket peer that is not trusted, or a trusted one that
   sent no header), the client is None and the request is refused (security.middleware).
"""

from functools import lru_cache
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from .addresses import IPAddress, IPNetwork, parse_network, parse_peer, peer_text
from .conf import conf

_UNSET = object()

UNIX_PEER = "unix"
# Read at most this much of the header's right end, and at most this many hops of it: no proxy
# chain is longer, and a megabyte of forged hops on the left costs nothing.
MAX_FORWARDED_TAIL = 4096
MAX_HOPS = 64


class Trust(NamedTuple):
    networks: tuple[IPNetwork, ...]
    unix: bool

    def __bool__(self) -> bool:
        return bool(self.networks) or self.unix

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


@lru_cache(maxsize=8)
def compile_trust(entries: tuple[str, ...]) -> Trust:
    networks = []
    unix = False
    for entry in entries:
        entry = entry.strip()
        if entry.lower() == UNIX_PEER:
            unix = True
            continue
        try:
            # Normalised as clients are: a proxy on a dual-stack listener is written
            # ::ffff:127.0.0.1, and the peer it matches arrives as 127.0.0.1.
            networks.append(parse_network(entry))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"SECURITY_TRUSTED_PROXIES: {entry!r} is not an IP address, network or 'unix'"
            ) from error
    return Trust(tuple(networks), unix)


RFC7239_HEADER = "HTTP_FORWARDED"


def forwarded_hops(header: str) -> list[str]:
    """The right-most hops of a forwarded header, right-most last; a hop cut by the bound is
    dropped rather than misread ('11.2.3.4' cut to '1.2.3.4')."""
    tail = header[-MAX_FORWARDED_TAIL:]
    hops = tail.split(",")
    if len(tail) < len(header):
        hops = hops[1:]
    return hops[-MAX_HOPS:]


def rfc7239_for(element: str) -> str:
    """The node an RFC 7239 element names: `for=192.0.2.60;proto=http;by=203.0.113.43` and
    `For="[2001:db8:cafe::17]:4711"` give the address text; an element without `for=` gives
    ''. Obfuscated identifiers (`_hidden`, `unknown`) are returned as they are and name no
    address. Commas inside quotes are not honoured: only the client writes such a thing, on
    the left of what the proxies appended, and splitting it wrongly moves nothing rightwards."""
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return value.strip()
    return ""


def resolve_client_ip(meta: dict, trusted_proxies: tuple[str, ...], header: str) -> str | None:
    remote_addr = str(meta.get("REMOTE_ADDR") or "")
    if not trusted_proxies:
        return peer_text(remote_addr)
    trust = compile_trust(trusted_proxies)
    if not trust:
        return peer_text(remote_addr)
    client: IPAddress | None
    if remote_addr:
        client = parse_peer(remote_addr)
        if client is None or not trust.trusts(client):
            return None if client is None else str(client)
    elif trust.unix:
        client = None
    else:
        return None
    value = str(meta.get(header) or "")
    if not value.strip():
        return None if client is None else str(client)  # the proxy's own request
    hops = forwarded_hops(value)
    if header == RFC7239_HEADER:
        hops = [rfc7239_for(hop) for hop in hops]
    for position, hop in enumerate(reversed(hops)):
        address = parse_peer(hop)
        if address is None:
            # The proxy that connected wrote the right-most hop: if even that names no one,
            # the client is unknown, never the proxy (whose identity everyone would share).
            return None if position == 0 else (None if client is None else str(client))
        client = address
        if not trust.trusts(address):
            break
    return None if client is None else str(client)


PROXY_SETTINGS = {"SECURITY_TRUSTED_PROXIES", "SECURITY_FORWARDED_HEADER"}


@lru_cache(maxsize=1)
def proxy_settings() -> tuple[tuple[str, ...], str]:
    # Asked on every request, and each read of django.conf.settings runs LazyObject's
    # __getattribute__ in Python (8,000 instructions a request for these two): read them once,
    # again only when they change (override_settings in tests).
    proxies = conf.TRUSTED_PROXIES
    return proxies, conf.FORWARDED_HEADER if proxies else ""


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in PROXY_SETTINGS:
        proxy_settings.cache_clear()


def get_client_ip(request: HttpRequest) -> str | None:
    """The client IP of this request, computed once and kept on the request."""
    cached = request.__dict__.get("client_ip", _UNSET)
    if cached is not _UNSET:
        return cached
    proxies, header = proxy_settings()
    if proxies:
        ip = resolve_client_ip(request.META, proxies, header)
    else:  # resolve_client_ip's own first case, without its call
        ip = peer_text(str(request.META.get("REMOTE_ADDR") or ""))
    # Like request.htmx: an attribute of ours, which HttpRequest does not declare.
    request.client_ip = ip  # type: ignore[attr-defined]
    return ip


def ratelimit_ip(request: HttpRequest) -> str:
    """RATELIMIT_IP_META_KEY for a site's own django-ratelimit decorators: our client IP,
    never a raw header. The security middleware refuses requests without one before any view."""
    return get_client_ip(request) or "0.0.0.0"
