import ipaddress
import random

import pytest

from security.addresses import (
    SPECIAL_V4,
    InvalidInput,
    classify_address,
    parse_address,
    parse_network,
    parse_target,
)
from security.matcher import NetworkSet


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("::ffff:1.2.3.0/120", "1.2.3.0/24"),
        ("::ffff:192.0.2.1/128", "192.0.2.1"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ],
)
def test_ipv4_mapped_targets_become_ipv4(text, normal):
    assert parse_target(text) == normal


def test_mapped_block_matches_the_ipv4_client_it_names():
    blocked = NetworkSet([parse_target("::ffff:1.2.3.0/120")])
    assert "1.2.3.77" in blocked
    assert "::ffff:1.2.3.77" in blocked
    assert "1.2.4.1" not in blocked


def test_the_whole_mapped_range_is_the_whole_ipv4_space_and_needs_force():
    with pytest.raises(InvalidInput, match="refused without --force"):
        parse_target("::ffff:0:0/96")
    assert parse_target("::ffff:0:0/96", allow_huge=True) == "0.0.0.0/0"


def test_an_ipv6_network_covering_the_mapped_range_covers_ipv4_clients():
    assert "198.51.100.1" in NetworkSet(["::/0"])
    assert "198.51.100.1" not in NetworkSet(["2001:db8::/32"])


@pytest.mark.parametrize("text", ["2001:db8::1%eth0", "fe80::1%1", "2001:db8::1%" + "e" * 50])
def test_scoped_addresses_are_refused_with_a_reason(text):
    with pytest.raises(InvalidInput, match="zone"):
        parse_target(text)
    assert parse_address(text) is None


@pytest.mark.parametrize("text", ["0.0.0.0/0", "::/0", "10.0.0.0/7", "2001::/16", "0.0.0.0/1"])
def test_networks_wider_than_the_limit_need_force(text):
    with pytest.raises(InvalidInput, match="refused without --force"):
        parse_target(text)
    assert parse_target(text, allow_huge=True) == text


def test_widest_networks_allowed_without_force():
    assert parse_target("10.0.0.0/8") == "10.0.0.0/8"
    assert parse_target("2001:db8::/32") == "2001:db8::/32"


def test_parse_address_is_plain_and_canonical():
    assert parse_address(" 2001:DB8::1 ") == "2001:db8::1"
    assert parse_address("::ffff:192.0.2.1") == "192.0.2.1"
    for bad in ("10.0.0.0/8", "example.org", "1.2.3.4:80", "", "x" * 500):
        assert parse_address(bad) is None


def test_stored_networks_parse_back():
    assert str(parse_network("10.0.0.0/8")) == "10.0.0.0/8"


def _exact_public(text: str) -> str | None:
    ip = parse_address(text)
    return ip if ip is not None and ipaddress.ip_address(ip).is_global else None


def test_address_classes_agree_with_ipaddress_on_every_kind_of_text():
    texts = [
        "8.8.8.8",
        "10.1.2.3",
        "100.64.0.1",
        "100.128.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "172.15.255.255",
        "172.16.0.0",
        "172.31.255.255",
        "172.32.0.0",
        "192.0.0.9",
        "192.0.2.10",
        "192.88.99.1",
        "192.168.1.1",
        "198.17.255.255",
        "198.18.0.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.255",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "2001:4860:4860::8888",
        "2001:db8::1",
        "fe80::1",
        "::1",
        "::ffff:8.8.8.8",
        "::ffff:10.0.0.1",
        " 8.8.8.8",
        "08.8.8.8",
        "8.8.8.8:80",
        "8.8.8",
        "8.8.8.8%eth0",
        "example.org",
        "",
        "8.8.8.8\x00",
    ]
    rng = random.Random(24)
    texts += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(20_000)]
    for text in texts:
        exact = parse_address(text)
        assert classify_address(text) == (exact, _exact_public(text) is not None), text


def test_the_special_ranges_agree_with_ipaddress():
    # If a Python release learns a new special-purpose range, the fast path must not call it
    # global: every range ipaddress treats as not global lies inside SPECIAL_V4, and every
    # range SPECIAL_V4 calls wholly not global is so for ipaddress too.
    constants = ipaddress.IPv4Address._constants  # type: ignore[attr-defined]
    special = [*constants._private_networks, ipaddress.IPv4Network("100.64.0.0/10")]
    for network in special:
        first, last = int(network.network_address), int(network.broadcast_address)
        assert any(start <= first and last <= end for start, end, _ in SPECIAL_V4), network
    rng = random.Random(6890)
    for start, end, verdict in SPECIAL_V4:
        if verdict is False:
            for value in (start, end, *(rng.randint(start, end) for _ in range(200))):
                assert not ipaddress.IPv4Address(value).is_global, value
    for first in range(0, 2**32, 2**16):  # one address at each end of every /16
        for value in (first, first + 2**16 - 1):
            text = str(ipaddress.IPv4Address(value))
            assert classify_address(text) == (text, _exact_public(text) == text), text
