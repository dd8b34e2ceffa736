"""Threat feeds served by a real HTTP server on loopback: every format, broken and truncated
files, atomic replacement, the allowlist, dry runs, the refresh schedule."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer

from security.blocking import blocklist, changes, feeds
from security.models import BlockedIP, BlockSource, FeedState
from tests.processes import run_manage
from tests.trickle import trickling_server

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
    for _ in range(3):  # the scheduled refresh, due each time
        FeedState.objects.update(attempted_at=None)
        feeds.refresh_due()
    with pytest.raises(CommandError, match=why):
        call_command("import_blocklist", "feed")  # says it itself, not in the log again
    assert feed_entries("feed") == {"203.0.113.9"}
    assert blocklist.is_blocked("203.0.113.9")
    assert len([r for r in caplog.records if "keeping its previous entries" in r.getMessage()]) == 1
    assert why in FeedState.objects.get(name="feed").last_error


def test_a_refresh_replaces_the_feed_and_leaves_other_blocks_alone(httpserver, tmp_path):
    call_command("block_ip", "203.0.113.2", "--reason", "by hand")
    changes.block(["203.0.113.3"], reason="automatic: probe", source=BlockSource.AUTOMATIC)
    first = tmp_path / "v1.txt"
    first.write_text("203.0.113.1\n203.0.113.2\n203.0.113.3\n203.0.113.4\n")
    call_command("import_blocklist", "list", file=str(first))
    assert feed_entries("list") == {"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"}
    second = tmp_path / "v2.txt"
    second.write_text("203.0.113.4\n203.0.113.5\n")
    call_command("import_blocklist", "list", file=str(second))
    assert feed_entries("list") == {"203.0.113.4", "203.0.113.5"}
    assert not blocklist.is_blocked("203.0.113.1")  # left the feed: unblocked
    assert blocklist.is_blocked("203.0.113.2") and blocklist.is_blocked("203.0.113.3")
    assert BlockedIP.objects.get(ip_address="203.0.113.2", feed="").reason == "by hand"
    own = BlockedIP.objects.get(ip_address="203.0.113.3", feed="")
    assert own.source == BlockSource.AUTOMATIC


def test_a_feed_blocks_addresses_whose_own_block_expired_and_counts_honestly(
    tmp_path, capsys, client: Client
):
    past = timezone.now() - timedelta(minutes=5)
    changes.block(["203.0.113.21"], reason="old manual", expires_at=past)
    changes.block(["203.0.113.22"], reason="automatic: probe", source=BlockSource.AUTOMATIC)
    BlockedIP.objects.filter(ip_address="203.0.113.22").update(expires_at=past, strikes=2)
    blocklist.blocklist.reload_now()
    assert client.get("/", REMOTE_ADDR="203.0.113.21").status_code == 200
    path = tmp_path / "list.txt"
    path.write_text("203.0.113.21\n203.0.113.22\n")
    call_command("import_blocklist", "list", file=str(path))
    assert "2 entries; added 2, kept 0, removed 0" in capsys.readouterr().out
    for ip in ("203.0.113.21", "203.0.113.22"):
        assert client.get("/", REMOTE_ADDR=ip).status_code == 403
    call_command("import_blocklist", "list", file=str(path))
    assert "2 entries; added 0, kept 2, removed 0" in capsys.readouterr().out
    # The automatic row keeps its strike count for the next escalation.
    assert BlockedIP.objects.get(ip_address="203.0.113.22", feed="").strikes == 2


def test_overlapping_feeds_each_own_their_entries(tmp_path, client: Client):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("203.0.113.31\n203.0.113.32\n")
    two.write_text("203.0.113.31\n")
    call_command("import_blocklist", "one", file=str(one))
    call_command("import_blocklist", "two", file=str(two))
    assert feed_entries("two") == {"203.0.113.31"}
    one.write_text("203.0.113.32\n")
    call_command("import_blocklist", "one", file=str(one))
    assert client.get("/", REMOTE_ADDR="203.0.113.31").status_code == 403  # two still lists it
    two.write_text("203.0.113.32\n")
    call_command("import_blocklist", "two", file=str(two))
    assert client.get("/", REMOTE_ADDR="203.0.113.31").status_code == 200
    assert client.get("/", REMOTE_ADDR="203.0.113.32").status_code == 403


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
    assert "would add 1, would keep 1, would remove 1" in out
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
    with pytest.raises(CommandError, match="feed bad: unknown option 'colour'; nothing changed"):
        call_command("import_blocklist", "bad")


def test_a_mistake_in_one_feed_leaves_the_others_refreshing(
    httpserver, settings, client: Client, caplog
):
    from security import tasks

    settings.SECURITY_FEEDS = {
        "typo": {"url": serve(httpserver, "/typo.txt", "203.0.113.78\n"), "refrsh": "6h"},
        "live": {"url": serve(httpserver, "/live.txt", "203.0.113.77\n")},
    }
    tasks.refresh_threat_feeds()
    assert client.get("/", REMOTE_ADDR="203.0.113.77").status_code == 403
    assert client.get("/", REMOTE_ADDR="203.0.113.78").status_code == 200
    assert "'refrsh' (did you mean 'refresh'?)" in caplog.text
    assert not FeedState.objects.filter(name="typo").exists()


def test_a_trickling_feed_server_fails_at_the_download_deadline(httpserver, settings, client):
    good = serve(httpserver, "/good.txt", "203.0.113.9\n")
    settings.SECURITY_FEEDS = {"feed": {"url": good}}
    call_command("import_blocklist", "feed")
    settings.SECURITY_FEED_DOWNLOAD_DEADLINE = 1
    with trickling_server() as url:
        settings.SECURITY_FEEDS = {"feed": {"url": url + "/list.txt"}}
        with pytest.raises(CommandError, match="not downloaded within 1s"):
            call_command("import_blocklist", "feed")
    assert "deadline" in FeedState.objects.get(name="feed").last_error
    assert client.get("/", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_a_failed_one_off_import_leaves_no_feed_state(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_blocklist", "oneoff", file=str(tmp_path / "missing.txt"))
    assert not FeedState.objects.filter(name="oneoff").exists()


def test_a_failing_import_says_its_error_once(settings, caplog):
    settings.SECURITY_FEEDS = {"feed": {"url": "http://127.0.0.1:1/list.txt"}}
    with pytest.raises(CommandError, match="cannot download"):
        call_command("import_blocklist", "feed")
    assert not [r for r in caplog.records if "cannot download" in r.getMessage()]
    assert "cannot download" in FeedState.objects.get(name="feed").last_error
    result = run_manage("import_blocklist", "oneoff", "--url", "http://127.0.0.1:1/list.txt")
    assert result.returncode == 1
    assert result.stderr.count("cannot download http://127.0.0.1:1/list.txt") == 1
