import pytest

from security.addresses import InvalidInput, parse_address, parse_network, parse_target
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
