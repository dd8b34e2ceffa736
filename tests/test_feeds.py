"""Threat feeds served by a real HTTP server on loopback: every format, broken and truncated
files, atomic replacement, the allowlist, dry runs, the refresh schedule."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from pytest_httpserver import HTTPServer

from security import blocklist, feeds
from security.models import BlockedIP, BlockSource, FeedState

pytestmark = pytest.mark.django_db(transaction=True)

FIREHOL = """#
# firehol_level1 ipset
# Source: https://iplists.firehol.org/
#
0.0.0.0/8
224.0.0.0/3
203.0.113.0/26
198.51.100.7
2001:db8:bad::/48
"""
IPSUM = """# IPsum Threat Intelligence Feed
# IP\tnumber of (black)lists
203.0.113.70\t9
203.0.113.71\t3
203.0.113.72\t1
"""
SPAMHAUS = """; Spamhaus DROP List 2026/11/24 - (c) 2026 The Spamhaus Project SLU
; Last-Modified: Mon, 24 Nov 2026 12:00:00 GMT
192.0.2.0/25 ; SBL123456
198.18.0.0/16 ; SBL654321
"""
AWS = {
    "syncToken": "1732449600",
    "prefixes": [
        {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON"},
        {"ip_prefix": "52.94.76.0/22", "region": "eu-west-1", "service": "EC2"},
        {"ip_prefix": "18.200.0.0/16", "region": "eu-west-1", "service": "EC2"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2a05:d018::/36", "region": "eu-west-1", "service": "EC2"},
        {"ipv6_prefix": "2600:1f14::/35", "region": "us-west-2", "service": "EC2"},
    ],
}
GCP = {
    "syncToken": "1732449600",
    "prefixes": [
        {"ipv4Prefix": "34.1.208.0/20", "service": "Google Cloud", "scope": "africa-south1"},
        {"ipv6Prefix": "2600:1900:8000::/44", "service": "Google Cloud", "scope": "us-east1"},
    ],
}


def serve(server: HTTPServer, path: str, body: str, status: int = 200) -> str:
    server.expect_request(path).respond_with_data(body, status=status)
    return server.url_for(path)


def feed_entries(name: str) -> set[str]:
    return feeds.current_entries(name)


def test_plain_firehol_list_with_its_bogon_ranges_and_ipv6(httpserver):
    url = serve(httpserver, "/firehol.netset", FIREHOL)
    call_command("import_blocklist", "firehol", url=url)
    assert feed_entries("firehol") == {
        "0.0.0.0/8",
        "224.0.0.0/3",
        "203.0.113.0/26",
        "198.51.100.7",
        "2001:db8:bad::/48",
    }
    row = BlockedIP.objects.get(ip_address="198.51.100.7")
    assert (row.source, row.feed) == (BlockSource.FEED, "firehol")
    assert blocklist.is_blocked("203.0.113.5")
    assert blocklist.is_blocked("2001:db8:bad:1::9")


def test_ipsum_counts_below_the_minimum_are_left_out(httpserver, settings):
    settings.SECURITY_FEEDS = {
        "ipsum": {"url": serve(httpserver, "/ipsum.txt", IPSUM), "min_count": 3}
    }
    call_command("import_blocklist", "ipsum")
    assert feed_entries("ipsum") == {"203.0.113.70", "203.0.113.71"}


def test_spamhaus_drop(httpserver, tmp_path):
    path = tmp_path / "drop.txt"
    path.write_text(SPAMHAUS)
    call_command("import_blocklist", "drop", file=str(path), format="spamhaus")
    assert feed_entries("drop") == {"192.0.2.0/25", "198.18.0.0/16"}


def test_aws_ranges_by_service_and_region(httpserver, settings):
    url = serve(httpserver, "/ip-ranges.json", json.dumps(AWS))
    settings.SECURITY_FEEDS = {
        "aws_ec2_eu": {"url": url, "format": "aws", "services": ["EC2"], "regions": ["eu-west-1"]}
    }
    call_command("import_blocklist", "aws_ec2_eu")
    assert feed_entries("aws_ec2_eu") == {"52.94.76.0/22", "18.200.0.0/16", "2a05:d018::/36"}


def test_google_cloud_ranges(httpserver):
    url = serve(httpserver, "/cloud.json", json.dumps(GCP))
    call_command("import_blocklist", "gcp", url=url, format="gcp")
    assert feed_entries("gcp") == {"34.1.208.0/20", "2600:1900:8000::/44"}


@pytest.mark.parametrize(
    ("body", "status", "fmt", "why"),
    [
        ("203.0.113.1\n", 500, "plain", "HTTP 500"),
        (json.dumps(AWS)[:120], 200, "aws", "not JSON"),
        ("203.0.113.1\n203.0.113.2\n203.0.1", 200, "plain", "line 3"),
        ("# nothing here\n", 200, "plain", "no entries"),
        ("<html>maintenance</html>\n", 200, "plain", "line 1"),
        ('{"prefixes": "nope"}', 200, "gcp", "no 'prefixes' list"),
        ("203.0.113.1\n0.0.0.0/0\n", 200, "plain", "would block every address"),
    ],
)
def test_a_broken_feed_keeps_the_previous_entries_and_says_so_once(
    httpserver, settings, caplog, body, status, fmt, why
):
    good = serve(httpserver, "/good.txt", "203.0.113.9\n")
    settings.SECURITY_FEEDS = {"feed": {"url": good}}
    call_command("import_blocklist", "feed")
    bad = serve(httpserver, "/bad", body, status)
    settings.SECURITY_FEEDS = {"feed": {"url": bad, "format": fmt}}
    for _ in range(3):
        with pytest.raises(CommandError, match=why):
            call_command("import_blocklist", "feed")
    assert feed_entries("feed") == {"203.0.113.9"}
    assert blocklist.is_blocked("203.0.113.9")
    assert len([r for r in caplog.records if "keeping its previous entries" in r.getMessage()]) == 1
    assert why in FeedState.objects.get(name="feed").last_error


def test_a_refresh_replaces_the_feed_and_leaves_other_blocks_alone(httpserver, tmp_path):
    call_command("block_ip", "203.0.113.2", "--reason", "by hand")
    blocklist.block(["203.0.113.3"], reason="automatic: probe", source=BlockSource.AUTOMATIC)
    first = tmp_path / "v1.txt"
    first.write_text("203.0.113.1\n203.0.113.2\n203.0.113.3\n203.0.113.4\n")
    call_command("import_blocklist", "list", file=str(first))
    assert feed_entries("list") == {"203.0.113.1", "203.0.113.4"}  # the others were not its
    second = tmp_path / "v2.txt"
    second.write_text("203.0.113.4\n203.0.113.5\n")
    call_command("import_blocklist", "list", file=str(second))
    assert feed_entries("list") == {"203.0.113.4", "203.0.113.5"}
    assert not blocklist.is_blocked("203.0.113.1")  # left the feed: unblocked
    assert BlockedIP.objects.get(ip_address="203.0.113.2").reason == "by hand"
    assert BlockedIP.objects.get(ip_address="203.0.113.3").source == BlockSource.AUTOMATIC


def test_the_allowlist_wins_over_a_feed(tmp_path, client: Client):
    call_command("allow_ip", "203.0.113.8")
    path = tmp_path / "list.txt"
    path.write_text("203.0.113.0/24\n")
    call_command("import_blocklist", "list", file=str(path))
    assert client.get("/", REMOTE_ADDR="203.0.113.8").status_code == 200
    assert client.get("/", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_dry_run_prints_what_would_change_and_changes_nothing(tmp_path, capsys):
    path = tmp_path / "list.txt"
    path.write_text("203.0.113.1\n203.0.113.2\n")
    call_command("import_blocklist", "list", file=str(path))
    path.write_text("203.0.113.2\n203.0.113.3\n")
    call_command("import_blocklist", "list", file=str(path), dry_run=True)
    out = capsys.readouterr().out
    assert "+ 203.0.113.3" in out
    assert "- 203.0.113.1" in out
    assert "would add 1, would remove 1" in out
    assert feed_entries("list") == {"203.0.113.1", "203.0.113.2"}
    call_command("import_blocklist", "other", file=str(path), dry_run=True)
    assert not FeedState.objects.filter(name="other").exists()  # a dry run writes nothing


def test_a_configured_feed_is_live_within_one_refresh(httpserver, settings, client: Client):
    from security import tasks

    settings.SECURITY_FEEDS = {"live": {"url": serve(httpserver, "/live.txt", "203.0.113.77\n")}}
    assert client.get("/", REMOTE_ADDR="203.0.113.77").status_code == 200
    tasks.refresh_threat_feeds()
    assert client.get("/", REMOTE_ADDR="203.0.113.77").status_code == 403
    assert FeedState.objects.get(name="live").entries == 1
    tasks.refresh_threat_feeds()  # not due again yet: no second download
    assert len(httpserver.log) == 1


def test_unknown_feed_and_bad_options_are_one_line_errors(settings):
    with pytest.raises(CommandError, match="not in SECURITY_FEEDS"):
        call_command("import_blocklist", "nope")
    settings.SECURITY_FEEDS = {"bad": {"url": "http://127.0.0.1:1/x", "colour": "red"}}
    with pytest.raises(feeds.FeedError, match="unknown option"):
        feeds.configured_feeds()
