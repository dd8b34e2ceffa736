"""The address page (/security/ip/<address or network>/) and inspect_ip, over real requests
through the middleware, drained into the database as the worker does."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from security import tasks
from security.blocking.blocklist import is_blocked
from security.blocking.changes import announce_change, block
from security.models import BlockedIP, BlockSource, RequestLog, SuspiciousIP
from security.requestlog.buffer import log_buffer
from tests.conftest import EVERY_OPERATOR_PERMISSION, operator

pytestmark = pytest.mark.django_db(transaction=True)

PROBER = "198.51.100.5"
OPERATOR = (*EVERY_OPERATOR_PERMISSION, "security.delete_blockedip")


def store() -> None:
    log_buffer.flush()
    tasks.drain_logs()


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(operator("ops", *OPERATOR))
    return client


@pytest.fixture
def prober(client: Client) -> None:
    for path in ("/.env", "/wp-login.php", "/.git/config"):
        client.get(path, {"id": "1 union select"}, REMOTE_ADDR=PROBER, HTTP_USER_AGENT="sqlmap/1.7")
    client.get("/", REMOTE_ADDR=PROBER, HTTP_REFERER="https://evil.example/")
    client.get("/", REMOTE_ADDR="198.51.100.6")
    client.get("/", REMOTE_ADDR="203.0.113.9")
    store()
    call_command("detect_anomalies", stdout=StringIO())


def test_the_page_shows_what_an_address_did_and_its_flags_readably(staff_client, prober):
    page = staff_client.get(f"/security/ip/{PROBER}/").content.decode()
    assert ">4<" in page.replace(" ", "")  # its requests
    assert "/.env" in page and "wp-login.php" in page
    assert "sqlmap/1.7" in page and "https://evil.example/" in page
    assert "id=1+union+select" in page or "id=1%20union%20select" in page
    assert SuspiciousIP.objects.filter(ip_address=PROBER).exists()
    assert "Probe of a well-known attack path" in page
    assert '"requests":' not in page  # evidence is not dumped as JSON
    assert "Not blocked." in page
    assert "203.0.113.9" not in page


def test_a_network_page_covers_its_addresses(staff_client, prober):
    page = staff_client.get("/security/ip/198.51.100.0/24/").content.decode()
    assert 'href="/security/ip/198.51.100.6/"' in page
    assert 'href="/security/ip/198.51.100.5/"' in page
    assert "203.0.113.9" not in page


def test_the_feed_that_blocks_its_network_is_named(staff_client, prober):
    BlockedIP.objects.create(ip_address="198.51.100.0/24", source=BlockSource.FEED, feed="drop")
    announce_change()
    page = staff_client.get(f"/security/ip/{PROBER}/").content.decode()
    assert "Blocked by 198.51.100.0/24 (feed drop)." in page
    assert "feed <strong>drop</strong>" in page


def test_block_for_a_duration_then_unblock(staff_client, client, prober):
    response = staff_client.post(f"/security/ip/{PROBER}/", {"action": "block", "duration": "24h"})
    assert response.status_code == 302
    page = staff_client.get(f"/security/ip/{PROBER}/").content.decode()
    assert f"{PROBER} is blocked until" in page and f"Blocked by {PROBER} (manual) until" in page
    assert client.get("/", REMOTE_ADDR=PROBER).status_code == 403
    out = StringIO()
    call_command("inspect_ip", PROBER, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["blocked"] is True and data["blocks"][0]["target"] == PROBER
    assert data["blocks"][0]["expires_at"]
    staff_client.post(f"/security/ip/{PROBER}/", {"action": "unblock"})
    assert not is_blocked(PROBER)
    assert client.get("/", REMOTE_ADDR=PROBER).status_code == 200


def test_unblocking_says_what_still_blocks_it(staff_client):
    block([PROBER])
    block(["198.51.100.0/24"])
    staff_client.post(f"/security/ip/{PROBER}/", {"action": "unblock"})
    page = staff_client.get(f"/security/ip/{PROBER}/").content.decode()
    assert f"Unblocked {PROBER}; still blocked by 198.51.100.0/24." in page


def test_allowlist_and_forget(staff_client, client, prober):
    block([PROBER])
    operator_with_forget = operator(
        "dpo", *OPERATOR, "security.delete_requestlog", "security.delete_suspiciousip"
    )
    staff_client.force_login(operator_with_forget)
    staff_client.post(f"/security/ip/{PROBER}/", {"action": "allow"})
    assert client.get("/", REMOTE_ADDR=PROBER).status_code == 200
    staff_client.post(f"/security/ip/{PROBER}/", {"action": "forget"})
    assert not RequestLog.objects.filter(ip_address=PROBER).exists()
    assert not SuspiciousIP.objects.filter(ip_address=PROBER).exists()


def test_a_viewer_sees_no_action_and_is_refused_if_it_posts_anyway(client, prober):
    viewer = Client(enforce_csrf_checks=True)
    viewer.force_login(operator("viewer", "security.view_requestlog"))
    page = viewer.get(f"/security/ip/{PROBER}/").content.decode()
    assert 'value="block"' not in page and "Flags" not in page
    token = viewer.cookies["csrftoken"].value if "csrftoken" in viewer.cookies else ""
    response = viewer.post(
        f"/security/ip/{PROBER}/",
        {"action": "block", "duration": "24h", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 403
    assert not is_blocked(PROBER)


def test_a_post_without_csrf_token_is_refused(prober):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator("ops2", *OPERATOR))
    response = browser.post(f"/security/ip/{PROBER}/", {"action": "block"})
    assert response.status_code == 403
    assert not is_blocked(PROBER)


@pytest.mark.parametrize("target", ["not-an-ip", "10.0.0.1%eth0", "300.1.1.1"])
def test_bad_targets_are_a_400_with_a_reason(staff_client, target):
    response = staff_client.get(f"/security/ip/{target}/")
    assert response.status_code == 400
    assert b"not an IPv4/IPv6 address" in response.content or b"zone" in response.content


def test_anonymous_go_to_login(client):
    response = client.get(f"/security/ip/{PROBER}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_recent_requests_are_paged(staff_client, client):
    for i in range(60):
        client.get(f"/page/{i}/", REMOTE_ADDR="192.0.2.77")
    store()
    first = staff_client.get("/security/ip/192.0.2.77/").content.decode()
    assert "/page/59/" in first and "/page/5/" not in first.split('id="recent"')[1]
    older = first.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
    second = staff_client.get("/security/ip/192.0.2.77/" + older).content.decode()
    recent = second.split('id="recent"')[1]
    assert "/page/0/" in recent and "/page/59/" not in recent


def test_inspect_ip_prints_what_decides_and_bad_input_is_one_line(capsys, prober):
    BlockedIP.objects.create(ip_address="198.51.100.0/24", source=BlockSource.FEED, feed="drop")
    out = StringIO()
    call_command("inspect_ip", PROBER, stdout=out)
    text = out.getvalue()
    assert "blocked by 198.51.100.0/24 (feed drop)" in text
    assert "Probe of a well-known attack path" in text and "/.env" in text
    with pytest.raises(CommandError, match="'nope' is not an IPv4/IPv6 address"):
        call_command("inspect_ip", "nope")
    assert not BlockedIP.objects.exclude(ip_address="198.51.100.0/24").exists()
