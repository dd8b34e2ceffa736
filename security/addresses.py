"""The one home for turning text into IP addresses and networks.

Three kinds of text arrive, each with its own rules:
- what a peer or proxy wrote (`parse_peer`): lenient about ports, brackets and scopes, never
  raises, cached because the same few values come again on every request;
- what an operator typed (`parse_target`): strict, with a one-line reason for anything refused
  (scoped addresses, host bits, networks wider than a sane limit);
- what is about to leave the machine or be stored (`parse_address`): a plain address, no scope.

IPv4-mapped IPv6 (`::ffff:1.2.3.4`, `::ffff:1.2.3.0/120`) always becomes IPv4: clients are
normalised that way, so blocks and allowlist entries must be too.
"""

import ipaddress
import socket
from bisect import bisect_right
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddressKey = tuple[int, int]  # (IP version, integer value)

MAX_TEXT_LENGTH = 64  # the longest address text a proxy could write, with brackets and port
# Written out: Python 3.13 prints the mapped range as ::ffff:0.0.0.0/96, 3.11 and 3.12 as here.
MAPPED_TEXT = "::ffff:0:0/96"
MAPPED = ipaddress.IPv6Network(MAPPED_TEXT)
# Networks wider than these need an explicit --force: one typo must not block the world.
WIDEST_PREFIX = {4: 8, 6: 32}


class InvalidInput(ValueError):
    pass


def unmap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def unmap_network(network: IPNetwork) -> IPNetwork:
    """`::ffff:1.2.3.0/120` is `1.2.3.0/24`; other networks are returned as they are."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(MAPPED):
        return ipaddress.IPv4Network(
            (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96)
        )
    return network


def mapped_part(network: IPNetwork) -> ipaddress.IPv4Network | None:
    """The IPv4 addresses an IPv6 network covers through the mapped range: every one of them
    for any network of /96 or wider that contains `::ffff:0:0/96` (`::/0`, `::/64`, `::/8`)."""
    if isinstance(network, ipaddress.IPv6Network) and MAPPED.subnet_of(network):
        return ipaddress.IPv4Network("0.0.0.0/0")
    return None


def covers_all_ipv4(network: IPNetwork) -> bool:
    """`0.0.0.0/0`, or an IPv6 network that holds the whole IPv4-mapped range."""
    if isinstance(network, ipaddress.IPv4Network):
        return network.prefixlen == 0
    return mapped_part(network) is not None


def wider_than_limit(network: IPNetwork) -> str | None:
    """Why a network is too wide to take without --force (judged after mapping), or None."""
    if isinstance(network, ipaddress.IPv6Network) and mapped_part(network) is not None:
        return (
            f"contains {MAPPED_TEXT}, the IPv4-mapped range: it covers every IPv4 address "
            f"as well as {network.num_addresses:,} IPv6 addresses"
        )
    limit = WIDEST_PREFIX[network.version]
    if network.prefixlen < limit:
        return f"covers {network.num_addresses:,} addresses (wider than /{limit})"
    return None


# --- What peers and proxies write ---------------------------------------------------------------


@lru_cache(maxsize=16384)
def parse_peer(value: str) -> IPAddress | None:
    """One address as proxies write it: '1.2.3.4', '1.2.3.4:80', '[::1]:80', 'fe80::1%eth0'."""
    value = value.strip().strip('"')
    if not value or len(value) > MAX_TEXT_LENGTH:
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
        return unmap(ipaddress.ip_address(value))
    except ValueError:
        return None


@lru_cache(maxsize=16384)
def peer_text(value: str) -> str | None:
    """The canonical text of a peer address, or None; what most requests need (no proxies)."""
    address = parse_peer(value)
    return None if address is None else str(address)


@lru_cache(maxsize=16384)
def address_key(ip: str) -> AddressKey | None:
    try:
        address = unmap(ipaddress.ip_address(ip))
    except ValueError:
        return None
    return address.version, int(address)


# --- What is stored or sent -----------------------------------------------------------------------


def parse_address(text: str) -> str | None:
    """A plain address in canonical form, or None: no scope, no port, no network."""
    value = text.strip()
    if not value or len(value) > MAX_TEXT_LENGTH or "%" in value or not value.isascii():
        return None
    try:
        return str(unmap(ipaddress.ip_address(value)))
    except ValueError:
        return None


@lru_cache(maxsize=16384)
def is_public(ip: str) -> bool:
    # Asked of every stored record's address (geolocation); clients repeat.
    return ipaddress.ip_address(ip).is_global


# IPv4 special-purpose ranges (RFC 6890), a superset of what ipaddress knows (a test checks):
# False where no address is global, None where ipaddress decides address by address. Every
# other dotted quad is global. ipaddress parses in Python: asking it of every stored record's
# address was a fifth of the drain's time on a batch of new clients.
SPECIAL_V4: tuple[tuple[int, int, bool | None], ...] = tuple(
    sorted(
        (int(network.network_address), int(network.broadcast_address), verdict)
        for text, verdict in [
            ("0.0.0.0/8", False),
            ("10.0.0.0/8", False),
            ("100.64.0.0/10", False),
            ("127.0.0.0/8", False),
            ("169.254.0.0/16", False),
            ("172.16.0.0/12", False),
            ("192.0.0.0/24", None),  # a few of its addresses are global
            ("192.0.2.0/24", False),
            ("192.88.99.0/24", None),
            ("192.168.0.0/16", False),
            ("198.18.0.0/15", False),
            ("198.51.100.0/24", False),
            ("203.0.113.0/24", False),
            ("224.0.0.0/4", None),  # multicast: global or not, by Python release
            ("240.0.0.0/4", False),
        ]
        for network in [ipaddress.IPv4Network(text)]
    )
)
_SPECIAL_STARTS = tuple(start for start, _end, _verdict in SPECIAL_V4)


def classify_address(text: str) -> tuple[str | None, bool]:
    """parse_address(text), and whether that is a global address: what geolocation asks of
    every stored record's address, without parsing a canonical dotted quad in Python."""
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        packed = b""
    # glibc's inet_pton refuses leading zeros, spaces and ports; the comparison keeps a
    # platform that is laxer from calling a text canonical that is not.
    if not packed or socket.inet_ntoa(packed) != text:
        ip = parse_address(text)
        return ip, ip is not None and is_public(ip)
    value = int.from_bytes(packed, "big")
    index = bisect_right(_SPECIAL_STARTS, value) - 1
    if index < 0 or value > SPECIAL_V4[index][1]:
        return text, True
    return text, SPECIAL_V4[index][2] is None and is_public(text)


def covering_targets(target: str) -> list[str]:
    """Every stored target (normal form) that covers `target`: itself, its supernets, and for
    IPv4 the IPv6 networks that hold the whole mapped range (`::/64`, `::/8`, ...)."""
    network = parse_network(target)
    found = []
    for prefix in range(network.prefixlen, -1, -1):
        supernet = network.supernet(new_prefix=prefix)
        whole = supernet.prefixlen == supernet.max_prefixlen
        found.append(str(supernet.network_address) if whole else str(supernet))
    if isinstance(network, ipaddress.IPv4Network):
        found.extend(str(MAPPED.supernet(new_prefix=prefix)) for prefix in range(MAPPED.prefixlen))
    return found


def parse_network(text: str) -> IPNetwork:
    """A stored block or allowlist entry (already in normal form) as a network."""
    return unmap_network(ipaddress.ip_network(text, strict=False))


# --- What operators type --------------------------------------------------------------------------


def shown(value: str) -> str:
    return repr(value if len(value) <= MAX_TEXT_LENGTH else value[:MAX_TEXT_LENGTH] + "...")


def parse_target(text: str, allow_huge: bool = False) -> str:
    """The normal form of an address or CIDR network: '10.0.0.0/8', '2001:db8::1'.

    InvalidInput names the text and why it was refused.
    """
    value = text.strip()
    not_a_target = f"{shown(value)} is not an IPv4/IPv6 address or CIDR network"
    if "%" in value:
        raise InvalidInput(f"{shown(value)} has a zone (%...); give the address without it")
    if not value or len(value) > MAX_TEXT_LENGTH or not value.isascii():
        raise InvalidInput(not_a_target)
    try:
        if "/" not in value:
            return str(unmap(ipaddress.ip_address(value)))
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            fixed = unmap_network(ipaddress.ip_network(value, strict=False))
            raise InvalidInput(
                f"{shown(value)} has host bits set; did you mean {fixed}?"
            ) from error
        raise InvalidInput(not_a_target) from error
    network = unmap_network(network)
    too_wide = None if allow_huge else wider_than_limit(network)
    if too_wide:
        raise InvalidInput(f"{shown(value)} {too_wide}; refused without --force")
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)
