import pytest
from django.test import RequestFactory, override_settings

from security.addresses import parse_peer
from security.client_ip import get_client_ip, resolve_client_ip

XFF = "HTTP_X_FORWARDED_FOR"


def resolve(meta: dict, proxies: tuple[str, ...] = ()) -> str | None:
    return resolve_client_ip(meta, proxies, XFF)


def test_without_trusted_proxies_no_header_changes_the_client():
    meta = {
        "REMOTE_ADDR": "203.0.113.9",
        XFF: "1.1.1.1",
        "HTTP_X_REAL_IP": "2.2.2.2",
        "HTTP_FORWARDED": "for=3.3.3.3",
        "HTTP_CF_CONNECTING_IP": "4.4.4.4",
        "HTTP_TRUE_CLIENT_IP": "5.5.5.5",
    }
    assert resolve(meta) == "203.0.113.9"


def test_forwarded_header_from_an_untrusted_peer_is_ignored():
    meta = {"REMOTE_ADDR": "198.51.100.20", XFF: "1.1.1.1"}
    assert resolve(meta, ("10.0.0.0/8",)) == "198.51.100.20"


def test_trusted_proxy_gives_the_rightmost_untrusted_hop():
    # The client forged "6.6.6.6"; the proxy appended the real peer 203.0.113.5.
    meta = {"REMOTE_ADDR": "10.0.0.2", XFF: "6.6.6.6, 203.0.113.5"}
    assert resolve(meta, ("10.0.0.0/8",)) == "203.0.113.5"


def test_chains_of_trusted_proxies_are_skipped():
    meta = {"REMOTE_ADDR": "10.0.0.2", XFF: "6.6.6.6, 203.0.113.5, 10.0.0.7, 10.0.0.3"}
    assert resolve(meta, ("10.0.0.0/8",)) == "203.0.113.5"


def test_trusted_proxies_are_matched_as_networks_not_string_prefixes():
    meta = {"REMOTE_ADDR": "10.0.0.100", XFF: "6.6.6.6"}
    assert resolve(meta, ("10.0.0.1",)) == "10.0.0.100"
    assert resolve({**meta, "REMOTE_ADDR": "10.0.0.1"}, ("10.0.0.1",)) == "6.6.6.6"


def test_all_hops_trusted_gives_the_leftmost_hop():
    meta = {"REMOTE_ADDR": "10.0.0.2", XFF: "10.0.0.9, 10.0.0.8"}
    assert resolve(meta, ("10.0.0.0/8",)) == "10.0.0.9"


def test_malformed_hop_stops_the_walk_at_the_last_trusted_hop():
    meta = {"REMOTE_ADDR": "10.0.0.2", XFF: "6.6.6.6, not-an-ip, 10.0.0.5"}
    assert resolve(meta, ("10.0.0.0/8",)) == "10.0.0.5"


def test_overlong_header_is_read_from_the_right_never_handed_to_the_proxy():
    # A client behind the proxy pads the header past any sane size; the proxy appended the
    # client's real address at the right end, and that is who it is.
    forged = "6.6.6.6, " * 100_000
    meta = {"REMOTE_ADDR": "10.0.0.2", XFF: forged + "203.0.113.66"}
    assert resolve(meta, ("10.0.0.0/8",)) == "203.0.113.66"
    meta = {"REMOTE_ADDR": "10.0.0.2", XFF: "x" * 1_000_000 + ",203.0.113.67, 10.0.0.9"}
    assert resolve(meta, ("10.0.0.0/8",)) == "203.0.113.67"


def test_a_hop_cut_by_the_bound_is_not_misread():
    # Only trusted hops fit in the bounded tail: the cut hop on its left is not parsed.
    hops = ", ".join(["10.0.0.9"] * 2000)
    meta = {"REMOTE_ADDR": "10.0.0.2", XFF: "11.2.3.4, " + hops}
    assert resolve(meta, ("10.0.0.0/8",)) != "1.2.3.4"


def test_unix_socket_peer_is_a_proxy_only_when_configured():
    meta = {"REMOTE_ADDR": "", XFF: "6.6.6.6, 203.0.113.5"}
    assert resolve(meta) is None
    assert resolve(meta, ("10.0.0.0/8",)) is None
    assert resolve(meta, ("unix",)) == "203.0.113.5"
    assert resolve(meta, ("unix", "203.0.113.0/24")) == "6.6.6.6"
    assert resolve({"REMOTE_ADDR": ""}, ("unix",)) is None  # no header: unknown, not a guess


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.5:4711", "203.0.113.5"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
        ('"198.51.100.1"', "198.51.100.1"),
        ("", None),
        ("999.1.1.1", None),
        ("[::1", None),
        ("x" * 500, None),
    ],
)
def test_parse_peer_normalises_what_proxies_write(raw, expected):
    parsed = parse_peer(raw)
    assert (str(parsed) if parsed else None) == expected


def test_ipv6_peer_behind_ipv6_proxy():
    meta = {"REMOTE_ADDR": "2001:db8:ffff::1", XFF: "2001:db8:1::42"}
    assert resolve(meta, ("2001:db8:ffff::/48",)) == "2001:db8:1::42"


def test_missing_remote_addr_gives_no_client():
    assert resolve({XFF: "1.2.3.4"}, ("10.0.0.0/8",)) is None


@override_settings(SECURITY_TRUSTED_PROXIES=["127.0.0.1"])
def test_request_client_ip_is_computed_once_and_cached_on_the_request(rf: RequestFactory):
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert get_client_ip(request) == "198.51.100.7"
    request.META["HTTP_X_FORWARDED_FOR"] = "192.0.2.99"
    assert get_client_ip(request) == "198.51.100.7"
    assert request.client_ip == "198.51.100.7"


@override_settings(
    SECURITY_TRUSTED_PROXIES=["127.0.0.1"], SECURITY_FORWARDED_HEADER="HTTP_X_REAL_IP"
)
def test_another_header_can_be_configured_for_the_proxy(rf: RequestFactory):
    request = rf.get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="198.51.100.8", HTTP_X_FORWARDED_FOR="6.6.6.6"
    )
    assert get_client_ip(request) == "198.51.100.8"


FWD = "HTTP_FORWARDED"


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("for=203.0.113.60", "203.0.113.60"),
        ("for=203.0.113.60;proto=https;by=10.0.0.2", "203.0.113.60"),
        ('For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ('for="203.0.113.61:8080"', "203.0.113.61"),
        ("for=6.6.6.6, for=203.0.113.62;proto=http", "203.0.113.62"),
        ("for=203.0.113.63, for=10.0.0.7", "203.0.113.63"),
        ('for=6.6.6.6;host="a,b", for=203.0.113.64', "203.0.113.64"),
    ],
)
def test_rfc7239_forwarded_elements_are_parsed(header, client):
    meta = {"REMOTE_ADDR": "10.0.0.2", FWD: header}
    assert resolve_client_ip(meta, ("10.0.0.0/8",), FWD) == client


@pytest.mark.parametrize("header", ["for=_hidden", "for=unknown", "proto=https", "garbage"])
def test_a_forwarded_header_naming_no_address_never_makes_the_proxy_the_client(header):
    meta = {"REMOTE_ADDR": "10.0.0.2", FWD: header}
    assert resolve_client_ip(meta, ("10.0.0.0/8",), FWD) is None
    xff = {"REMOTE_ADDR": "10.0.0.2", XFF: header}
    assert resolve(xff, ("10.0.0.0/8",)) is None


def test_a_trusted_proxy_without_a_header_is_its_own_client():
    assert resolve({"REMOTE_ADDR": "10.0.0.2"}, ("10.0.0.0/8",)) == "10.0.0.2"
    assert resolve({"REMOTE_ADDR": "10.0.0.2", XFF: " "}, ("10.0.0.0/8",)) == "10.0.0.2"
