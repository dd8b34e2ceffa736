"""Security events (/security/events/) and the last 15 minutes (/security/events/now/), over
real requests drained as the worker does."""

import csv
import io
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from security import tasks
from security.blocking.changes import block
from security.console import events
from security.console.timerange import TimeRange
from security.models import RequestLog
from security.requestlog.buffer import log_buffer
from tests.geodata import write_asn_db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def incidents(client: Client) -> None:
    client.get("/.env", REMOTE_ADDR="198.51.100.5")
    block(["192.0.2.93"], reason="by hand")
    for _ in range(3):
        client.get("/", REMOTE_ADDR="192.0.2.93")
    # 11 within two fixed windows of the limiter (5 a minute): one of them answers 429 however
    # a window boundary falls among them (8 did not, once, on a loaded machine).
    for _ in range(11):
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


@pytest.fixture
def asn_database(tmp_path, settings):
    networks = {"198.51.100.0/24": (64500, "Probe Cloud"), "192.0.2.0/24": (64501, "Other Net")}
    write_asn_db(tmp_path / "GeoLite2-ASN.mmdb", networks)
    settings.GEOIP_PATH = str(tmp_path)


def test_filter_by_network_operator(staff_client, incidents, asn_database):
    probe_cloud = rows(staff_client.get("/security/events/?range=24h&asn=AS64500").content.decode())
    assert probe_cloud and all("198.51.100.5" in r for r in probe_cloud)
    other = rows(staff_client.get("/security/events/?range=24h&asn=64501").content.decode())
    assert {"block", "request"} <= {r.split("</td><td>")[1].split("<")[0] for r in other}
    assert all("192.0.2.93" in r for r in other)
    response = staff_client.get("/security/events/?asn=64501&format=csv")
    exported = list(csv.reader(io.StringIO(response.content.decode())))[1:]
    assert exported and {row[2] for row in exported} == {"192.0.2.93"}
    bad = staff_client.get("/security/events/?asn=cloudflare")
    assert bad.status_code == 400 and b"asn must be an AS number" in bad.content


def test_the_asn_filter_without_its_database_says_so(staff_client, tmp_path, settings):
    settings.GEOIP_PATH = str(tmp_path)
    response = staff_client.get("/security/events/?asn=64500")
    assert response.status_code == 400 and b"needs the GeoLite2-ASN database" in response.content


def test_asn_pages_read_a_bounded_number_of_rows_and_miss_nothing(asn_database):
    """Old matches under many newer refusals of another network: each page reads at most its
    limit, and the pages together still show every match once, newest first."""
    now = timezone.now()

    def refusal(n: int, ip: str) -> RequestLog:
        return RequestLog(record_id=uuid.uuid4(), timestamp=now - timedelta(seconds=n),
                          ip_address=ip, method="GET", path=f"/{n}", status_code=403)  # fmt: skip

    RequestLog.objects.bulk_create(
        [refusal(n, "192.0.2.7") for n in range(1, 1_201)]
        + [refusal(n, "198.51.100.9") for n in (1_300, 1_301, 1_302)]
    )
    span = TimeRange(now - timedelta(hours=1), now + timedelta(seconds=1), "")
    filters = events.Filters(asn=64500)
    found, cursor, pages = [], None, 0
    while True:
        shown, cursor = events.page(span, filters, cursor, size=2, scan_limit=1_000)
        pages += 1
        found += [event.what for event in shown]
        if cursor is None:
            break
    assert found == ["GET /1300", "GET /1301", "GET /1302"]
    assert pages == 3  # one stopped at 1,000 rows, then two pages of matches


def test_a_match_where_a_page_stopped_reading_is_shown_once(asn_database):
    """The last row a page read is a match: it is on that page, and the next goes on below."""
    now = timezone.now()
    RequestLog.objects.bulk_create(
        [RequestLog(record_id=uuid.uuid4(), timestamp=now - timedelta(seconds=n),
                    ip_address="198.51.100.9" if n in (1_000, 1_400) else "192.0.2.7",
                    method="GET", path=f"/{n}", status_code=403)
         for n in range(1, 1_501)]
    )  # fmt: skip
    span = TimeRange(now - timedelta(hours=1), now + timedelta(seconds=1), "")
    found, cursor = [], None
    while True:
        shown, cursor = events.page(span, events.Filters(asn=64500), cursor, 2, scan_limit=1_000)
        found += [event.what for event in shown]
        if cursor is None:
            break
    assert found == ["GET /1000", "GET /1400"]
