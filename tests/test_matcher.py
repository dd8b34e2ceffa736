from security.matcher import NetworkSet


def test_addresses_and_networks_of_both_families():
    networks = NetworkSet(["203.0.113.7", "10.0.0.0/8", "2001:db8::/32", "2001:db9::1"])
    assert "203.0.113.7" in networks
    assert "203.0.113.8" not in networks
    assert "10.0.0.0" in networks
    assert "10.255.255.255" in networks
    assert "11.0.0.0" not in networks
    assert "9.255.255.255" not in networks
    assert "2001:db8:ffff::1" in networks
    assert "2001:db9::1" in networks
    assert "2001:db9::2" not in networks
    assert len(networks) == 4


def test_ipv4_mapped_ipv6_matches_the_ipv4_entry():
    assert "::ffff:203.0.113.7" in NetworkSet(["203.0.113.7"])


def test_overlapping_and_adjacent_ranges_merge():
    networks = NetworkSet(["10.0.0.0/24", "10.0.0.128/25", "10.0.1.0/24", "10.0.3.0/24"])
    assert "10.0.1.255" in networks
    assert "10.0.2.0" not in networks
    assert "10.0.3.9" in networks


def test_families_do_not_leak_into_each_other():
    assert "::a00:1" not in NetworkSet(["10.0.0.0/8"])  # same integer as 10.0.0.1
    assert "0.0.0.1" not in NetworkSet(["::1"])


def test_garbage_is_never_a_member():
    assert "not-an-ip" not in NetworkSet(["0.0.0.0/0"])
    assert "" not in NetworkSet(["0.0.0.0/0"])
    assert "1.2.3.4" not in NetworkSet([])
