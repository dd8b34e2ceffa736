"""Security events (/security/events/) and the last 15 minutes (/security/events/now/), over
real requests drained as the worker does."""

import csv
import io
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from security import tasks
from security.blocking.changes import block
from security.requestlog.buffer import log_buffer
from tests.conftest import EVERY_OPERATOR_PERMISSION, operator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(operator("ops", *EVERY_OPERATOR_PERMISSION))
    return client


@pytest.fixture
def incidents(client: Client) -> None:
    client.get("/.env", REMOTE_ADDR="198.51.100.5")
    block(["192.0.2.93"], reason="by hand")
    for _ in range(3):
        client.get("/", REMOTE_ADDR="192.0.2.93")
    for _ in range(8):
        client.post("/login/", {"username": "x", "password": "y"}, REMOTE_ADDR="203.0.113.8")
    client.get("/", REMOTE_ADDR="203.0.113.50")
    log_buffer.flush()
    tasks.drain_logs()
    call_command("detect_anomalies", stdout=StringIO())


def rows(page: str) -> list[str]:
    return page.split('id="events"')[1].split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]


def test_flags_blocks_403s_and_429s_newest_first(staff_client, incidents):
    page = staff_client.get("/security/events/?range=24h").content.decode()
    events = rows(page)
    kinds = {row.split("</td><td>")[1].split("<")[0] for row in events}
    assert kinds == {"flag", "block", "request"}
    assert any("198.51.100.5" in r and "flag" in r for r in events)
    assert sum("192.0.2.93" in r and "blocked" in r for r in events) == 3
    assert any("203.0.113.8" in r and "rate-limited" in r for r in events)
    assert "203.0.113.50" not in page  # a plain visitor is no event
    times = [r.split("<td>")[1].split("<")[0] for r in events]
    assert times == sorted(times, reverse=True)


def test_filters_by_address_status_and_rule(staff_client, incidents):
    only_429 = rows(staff_client.get("/security/events/?status=429").content.decode())
    assert only_429 and all("203.0.113.8" in r for r in only_429)
    network = rows(staff_client.get("/security/events/?ip=192.0.2.0/24").content.decode())
    assert network and all("192.0.2.93" in r for r in network)
    probes = rows(staff_client.get("/security/events/?rule=probe").content.decode())
    assert probes and all("198.51.100.5" in r for r in probes)
    bad = staff_client.get("/security/events/?ip=nope")
    assert bad.status_code == 400 and b"not an IPv4/IPv6" in bad.content


def test_keyset_pages_cover_every_event_once(staff_client, client):
    block(["192.0.2.93"])
    for i in range(120):
        client.get(f"/p/{i}/", REMOTE_ADDR="192.0.2.93")
    log_buffer.flush()
    tasks.drain_logs()
    seen, url = [], "/security/events/?kind=request"
    while url:
        page = staff_client.get(url).content.decode()
        seen += [r.split("<code>")[1].split("</code>")[0] for r in rows(page)]
        url = (
            "/security/events/"
            + page.split('id="next" href="')[1].split('"')[0].replace("&amp;", "&")
            if 'id="next"' in page
            else ""
        )
    assert sorted(seen) == sorted(f"GET /p/{i}/" for i in range(120))


def test_csv_export(staff_client, incidents):
    response = staff_client.get("/security/events/?format=csv")
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == ["time", "kind", "ip", "what", "detail", "status", "country"]
    assert {row[1] for row in table[1:]} == {"flag", "block", "request"}


def test_now_groups_the_last_minutes_by_address(staff_client, incidents):
    page = staff_client.get("/security/events/now/").content.decode()
    assert '<meta http-equiv="refresh"' in page
    table = page.split('id="now"')[1]
    line = table.split('href="/security/ip/192.0.2.93/"')[1].split("</tr>")[0]
    assert "blocked</span> by 192.0.2.93 (manual)" in line
    assert table.count('href="/security/ip/203.0.113.8/"') == 1


@pytest.mark.parametrize(
    "query",
    ["status=abc", "ip=not-an-address", "after=garbage", "from=yesterday", "country=" + "x" * 5000],
)
def test_bad_filters_never_break_the_page(staff_client, query):
    response = staff_client.get(f"/security/events/?{query}")
    assert response.status_code in (200, 400)
    assert staff_client.get(f"/security/events/?{query}&format=csv").status_code in (200, 400)
