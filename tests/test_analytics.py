"""The analytics page: figures equal to counts computed straight from the RequestLog rows, for
ranges that cut days in the middle, before and after daily compaction; CSV of every table; the
own-traffic switch; permissions."""

import csv
import io
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from security import privacy
from security.console import analytics_output, analytics_report
from security.models import RequestLog, RequestRollup, RollupKind
from security.requestlog import compaction
from security.requestlog.records import Record
from security.requestlog.store import store_records
from tests.conftest import operator
from tests.geodata import write_city_db

# Transactions of their own: the drain's COPY tables are emptied at each commit (pgcopy.py).
pytestmark = pytest.mark.django_db(transaction=True)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CURL = "curl/8.4.0"
# What the test knows about its agents, written down rather than asked of the code under test.
AGENTS = {
    CHROME: ("Chrome", "Windows", "Desktop", ""),
    IPHONE: ("Mobile Safari", "iOS", "Mobile", ""),
    FIREFOX: ("Firefox", "Linux", "Desktop", ""),
    GOOGLEBOT: ("", "", "Bot", "Googlebot"),
    CURL: ("", "", "Bot", "curl"),
}
PEOPLE = [f"81.2.69.{i}" for i in range(1, 40)] + [f"2a02:ff00::{i:x}" for i in range(1, 30)]
BOTS = ["66.249.66.1", "66.249.66.2", "203.0.113.200"]
PAGES = ["/", "/about/", "/blog/1/", "/blog/2/", "/contact/"]
STATIC = ["/static/site.css", "/logo.png", "/robots.txt"]
OWN_PATHS = ["/admin/", "/admin/security/requestlog/", "/security/dashboard/"]
REFERERS = ["", "", "https://news.example.org/item?id=3", "https://www.search.example/q", ""]
STATIC_SUFFIXES = (".css", ".png", ".txt")


@pytest.fixture
def city_db(tmp_path, settings):
    write_city_db(tmp_path / "GeoLite2-City.mmdb")
    settings.GEOIP_PATH = str(tmp_path)


@pytest.fixture
def staff() -> User:
    return User.objects.create_user("owner", password="pw-owner-12345", is_staff=True)


def day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def make_traffic(staff: User, now: datetime, seed: int = 23) -> list[Record]:
    """Three days of a small site: people, bots, 404s, static files, referrers, the operator."""
    rng = random.Random(seed)
    start = day_start(now) - timedelta(days=2)
    seconds = int((now - start).total_seconds()) - 1
    found = []
    for _ in range(1500):
        when = start + timedelta(seconds=rng.randrange(seconds))
        choice = rng.random()
        user_id, username = None, ""
        if choice < 0.15:  # bots
            ip, agent = rng.choice(BOTS), rng.choice([GOOGLEBOT, CURL])
            path = rng.choice(PAGES + STATIC + ["/wp-login.php"])
        elif choice < 0.22:  # the operator, signed in, on the site and in the admin
            ip, agent = "81.2.69.250", FIREFOX
            path = rng.choice(OWN_PATHS + PAGES[:2])
            user_id, username = staff.pk, staff.username
        else:
            ip, agent = rng.choice(PEOPLE), rng.choice([CHROME, IPHONE, FIREFOX])
            path = rng.choice(PAGES * 3 + STATIC + ["/old-page/", "/blog/99/"])
        status = 404 if path in ("/old-page/", "/blog/99/", "/wp-login.php") else 200
        if path == "/contact/" and rng.random() < 0.3:
            status = 302
        method = "POST" if path == "/contact/" and rng.random() < 0.2 else "GET"
        found.append(
            Record(
                uuid.uuid4().hex,
                when.timestamp(),
                ip,
                method,
                path,
                status,
                3,
                user_id,
                username,
                agent,
                rng.choice(REFERERS),
            )
        )
    an_hour_ago = (now - timedelta(hours=1)).timestamp()
    found.append(Record(uuid.uuid4().hex, an_hour_ago, None, "GET", "/", 200))
    return found


def store(records: list[Record]) -> None:
    rng = random.Random(5)
    rng.shuffle(records)  # batches out of order, as several web processes flush them
    for start in range(0, len(records), 200):
        store_records(records[start : start + 200], use_network=False)


class Expected:
    """The page's figures, counted from RequestLog rows with the test's own knowledge."""

    def __init__(self, start: datetime, end: datetime, own: bool, staff: User) -> None:
        rows = RequestLog.objects.filter(timestamp__gte=start, timestamp__lt=end)
        self.rows = []
        for row in rows:
            row.is_own = row.path.startswith(("/admin/", "/security/")) or row.user_id == staff.pk
            known = AGENTS.get(row.user_agent, ("", "", "Bot", "(no user agent)"))
            browser, system, device, bot = known
            row.bot, row.browser, row.system, row.device = bot, browser, system, device
            row.static = row.path.endswith(STATIC_SUFFIXES)
            if own or not row.is_own:
                self.rows.append(row)

    def counter(self, key, where=lambda row: True) -> Counter:
        return Counter(key(row) for row in self.rows if where(row))

    def pageview(self, row) -> bool:
        answered = 200 <= row.status_code < 300
        return row.method == "GET" and answered and not row.static and not row.bot


def as_dict(rows: list[list]) -> dict:
    return {tuple(row[:-1]) if len(row) > 2 else row[0]: row[-1] for row in rows}


def check_report(client: Client, query: str, start, end, own: bool, staff: User) -> None:
    data = client.get(f"/security/analytics/?{query}&format=json").json()
    want = Expected(start, end, own, staff)
    tables = {name: as_dict(table["rows"]) for name, table in data["tables"].items()}
    people = {row.ip_address for row in want.rows if not row.bot and row.ip_address}
    bots = {row.ip_address for row in want.rows if row.bot and row.ip_address}
    assert data["summary"] == {
        "visitors": len(people),
        "bot_addresses": len(bots),
        "pageviews": sum(1 for row in want.rows if want.pageview(row)),
        "requests": len(want.rows),
        "bot_requests": sum(1 for row in want.rows if row.bot),
        "not_found": sum(1 for row in want.rows if row.status_code == 404),
    }
    assert tables["pages"] == want.counter(lambda r: r.path, want.pageview)
    assert tables["not_found"] == want.counter(lambda r: r.path, lambda r: r.status_code == 404)
    assert tables["static"] == want.counter(lambda r: r.path, lambda r: r.static)
    assert tables["status"] == want.counter(lambda r: str(r.status_code))
    hosts = want.counter(lambda r: r.ip_address or "")
    shown = tables["hosts"]  # the top 50; the CSV has them all
    assert len(shown) == min(analytics_report.TOP, len(hosts))
    assert all(hosts[address] == count for address, count in shown.items())
    left_out = [count for address, count in hosts.items() if address not in shown]
    assert min(shown.values()) >= max(left_out, default=0)
    exported = client.get(f"/security/analytics/?{query}&format=csv&table=hosts")
    exported_rows = list(csv.reader(io.StringIO(exported.content.decode())))[1:]
    assert {address: int(count) for address, count in exported_rows} == hosts

    def people_rows(row) -> bool:
        return not row.bot

    assert tables["browsers"] == want.counter(lambda r: r.browser, people_rows)
    assert tables["systems"] == want.counter(lambda r: r.system, people_rows)
    assert tables["devices"] == want.counter(lambda r: r.device, people_rows)
    assert tables["bots"] == want.counter(lambda r: r.bot, lambda r: r.bot)
    external = {"https://news.example.org/item?id=3": "news.example.org",
                "https://www.search.example/q": "www.search.example"}  # fmt: skip
    assert tables["referrers"] == want.counter(
        lambda r: external[r.referer], lambda r: r.referer in external
    )
    assert tables["countries"] == want.counter(lambda r: (r.country_code, r.country))
    assert tables["cities"] == want.counter(lambda r: (r.country_code, r.city), lambda r: r.city)
    # The series add up to the totals, period by period.
    series = data["series"]["rows"]
    assert sum(row[4] for row in series) == len(want.rows)
    assert sum(row[3] for row in series) == data["summary"]["pageviews"]
    for row in series:
        period = datetime.fromisoformat(row[0])
        step = timedelta(hours=1) if data["range"]["step"] == "hour" else timedelta(days=1)
        upto = min(day_start(period) + step if step.days else period + step, end)
        inside = [r for r in want.rows if period <= r.timestamp < upto]
        assert row[1] == len({r.ip_address for r in inside if not r.bot and r.ip_address})
        assert row[4] == len(inside)
    statuses = data["status_series"]["rows"]
    assert sum(sum(row[1:]) for row in statuses) == len(want.rows)


@pytest.fixture
def operator_client() -> Client:
    client = Client()
    client.force_login(operator("analyst", "security.view_requestlog"))
    return client


@pytest.mark.parametrize("compacted", [False, True])
def test_figures_equal_counts_from_the_rows(city_db, staff, operator_client, compacted):
    now = timezone.now()
    store(make_traffic(staff, now))
    if compacted:
        assert compaction.compact(now) >= 2  # the two finished days
        assert RequestRollup.objects.filter(kind=RollupKind.V_PAGE_DAY).exists()
        # A late record for a compacted day is counted into its daily rows by the drain.
        late = day_start(now) - timedelta(days=2) + timedelta(hours=13)
        store_records(
            [
                Record(
                    uuid.uuid4().hex,
                    late.timestamp(),
                    "81.2.69.7",
                    "GET",
                    "/late/",
                    200,
                    1,
                    user_agent=CHROME,
                )
            ],  # fmt: skip
            use_network=False,
        )
    hour = now.replace(minute=0, second=0, microsecond=0)
    ranges = [
        # whole days and cut days, in hours, and the 24h/7d presets
        (day_start(now) - timedelta(days=2, hours=-5), hour - timedelta(hours=3)),
        (day_start(now) - timedelta(days=2), day_start(now)),
        (day_start(now) - timedelta(days=1, hours=-2), day_start(now) - timedelta(hours=20)),
    ]
    for start, end in ranges:
        query = f"from={start:%Y-%m-%dT%H:%M}&to={end:%Y-%m-%dT%H:%M}"
        for own in (False, True):
            check_report(operator_client, query + ("&own=1" if own else ""), start, end, own, staff)
    end = hour + timedelta(hours=1)
    for preset, length in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7))):
        for own in (False, True):
            query = f"range={preset}" + ("&own=1" if own else "")
            check_report(operator_client, query, end - length, end, own, staff)


def test_own_traffic_is_left_out_by_default_and_included_on_request(staff, operator_client):
    now = timezone.now()
    store(
        [
            Record(uuid.uuid4().hex, now.timestamp(), "203.0.113.5", "GET", "/", 200, 1,
                   user_agent=CHROME),
            Record(uuid.uuid4().hex, now.timestamp(), "203.0.113.6", "GET", "/admin/", 200, 1,
                   user_agent=CHROME),
            Record(uuid.uuid4().hex, now.timestamp(), "203.0.113.6", "GET",
                   "/static/security/site.css", 200, 1, user_agent=CHROME),
            Record(uuid.uuid4().hex, now.timestamp(), "203.0.113.7", "GET", "/", 200, 1,
                   staff.pk, staff.username, CHROME),
        ]
    )  # fmt: skip
    default = operator_client.get("/security/analytics/?range=24h&format=json").json()
    assert default["own_traffic"] is False
    assert default["summary"]["requests"] == 1
    assert default["summary"]["visitors"] == 1
    assert as_dict(default["tables"]["hosts"]["rows"]) == {"203.0.113.5": 1}
    assert default["tables"]["static"]["rows"] == []
    included = operator_client.get("/security/analytics/?range=24h&own=1&format=json").json()
    assert included["summary"]["requests"] == 4
    assert included["summary"]["visitors"] == 3
    assert as_dict(included["tables"]["pages"]["rows"]) == {"/": 2, "/admin/": 1}
    assert as_dict(included["tables"]["static"]["rows"]) == {"/static/security/site.css": 1}
    page = operator_client.get("/security/analytics/?range=24h")
    assert b"Include my own traffic" in page.content
    assert b"Leave out my own traffic" in operator_client.get("/security/analytics/?own=1").content


def test_every_table_exports_as_csv(city_db, staff, operator_client):
    now = timezone.now()
    store(make_traffic(staff, now))
    for name in analytics_output.EXPORTS:
        query = f"range=7d&format=csv&table={name}" + ("&path=/about/" if name == "path" else "")
        response = operator_client.get(f"/security/analytics/?{query}")
        assert response.status_code == 200, name
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert len(rows) > 1, name  # a header and at least one row of this traffic
        assert all(len(row) == len(rows[0]) for row in rows), name
    pages = operator_client.get("/security/analytics/?range=7d&format=csv&table=pages")
    parsed = list(csv.DictReader(io.StringIO(pages.content.decode())))
    json_rows = operator_client.get("/security/analytics/?range=7d&format=json").json()
    assert [[row["path"], int(row["pageviews"])] for row in parsed] == json_rows["tables"]["pages"][
        "rows"
    ]


def test_csv_cells_never_start_a_formula(operator_client):
    now = timezone.now()
    store([Record(uuid.uuid4().hex, now.timestamp(), "203.0.113.9", "GET", "/x", 200, 1,
                  user_agent=CHROME, referer="http://=SUM(1+2)/")])  # fmt: skip
    response = operator_client.get("/security/analytics/?range=24h&format=csv&table=referrers")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1] == ["'=sum(1+2)", "1"]


def test_path_drill_down(staff, operator_client):
    now = timezone.now()
    records = [
        Record(uuid.uuid4().hex, (now - timedelta(minutes=i)).timestamp(), "203.0.113.5",
               "GET", "/shop/", 500 if i % 4 == 0 else 200, 1, user_agent=CHROME)
        for i in range(12)
    ]  # fmt: skip
    other = Record(uuid.uuid4().hex, now.timestamp(), "203.0.113.5", "GET", "/other/", 200, 1)
    records.append(other)
    store(records)
    data = operator_client.get("/security/analytics/?range=24h&path=/shop/&format=json").json()
    assert data["path"]["requests"] == 12
    assert as_dict(data["path"]["status"]) == {"200": 9, "500": 3}
    assert sum(row[1] for row in data["path"]["series"]) == 12
    assert sum(row[5] for row in data["path"]["series"]) == 3  # 5xx
    page = operator_client.get("/security/analytics/?range=24h&path=/shop/")
    assert b"back to all paths" in page.content


def test_rollups_survive_anonymisation_and_forget_ip(staff, operator_client, settings):
    now = timezone.now()
    old = now - timedelta(days=3)
    store(
        [Record(uuid.uuid4().hex, old.timestamp(), "81.2.69.77", "GET", "/", 200, 1,
                user_agent=CHROME) for _ in range(3)]
        + [Record(uuid.uuid4().hex, old.timestamp(), "81.2.69.78", "GET", "/", 200, 1,
                  user_agent=CHROME)]
        + [Record(uuid.uuid4().hex, now.timestamp(), "198.51.100.4", "GET", "/", 200, 1,
                  user_agent=CHROME)]
    )  # fmt: skip
    compaction.compact(now)
    privacy.anonymize_older_than(2)
    data = operator_client.get("/security/analytics/?range=7d&format=json").json()
    assert as_dict(data["tables"]["hosts"]["rows"]) == {"81.2.69.0": 4, "198.51.100.4": 1}
    assert data["summary"]["visitors"] == 3  # distinct addresses as they were seen
    assert data["summary"]["requests"] == 5
    privacy.forget("198.51.100.4")
    data = operator_client.get("/security/analytics/?range=7d&format=json").json()
    assert "198.51.100.4" not in str(data["tables"]["hosts"])
    assert not RequestRollup.objects.filter(key="198.51.100.4").exists()
    assert data["summary"]["requests"] == 5  # counts that name no one stay


@pytest.mark.parametrize("query", ["", "&format=json", "&format=csv&table=pages"])
def test_permissions(client: Client, query):
    url = "/security/analytics/?range=24h" + query
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    client.force_login(User.objects.create_user("user", password="pw-user-12345"))
    assert client.get(url).status_code == 403
    client.force_login(operator("bare-staff"))
    assert client.get(url).status_code == 403
    client.force_login(operator("viewer", "security.view_requestlog"))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "range=1y",
        "from=yesterday",
        "from=2026-11-24T10:00&to=2026-11-23",
        "from=2020-01-01&to=2026-01-01",
        "format=xml",
        "format=csv&table=nope",
        "format=csv&table=path",
    ],
)
def test_bad_input_is_a_one_line_400(operator_client, query):
    response = operator_client.get(f"/security/analytics/?{query}")
    assert response.status_code == 400
    assert response.content.decode().count("\n") == 1


def test_every_address_links_to_its_page(operator_client):
    page = operator_client.get("/security/analytics/").content.decode()
    assert 'data-address-url="/security/ip/"' in page


def test_an_explicit_range_is_read_in_whole_utc_hours():
    from django.http import QueryDict

    from security.console import timerange

    now = datetime(2026, 11, 24, 15, 40, tzinfo=UTC)
    span = timerange.from_query(QueryDict("from=2026-11-20&to=2026-11-22T09:30"), now)
    assert (span.start, span.end) == (
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 22, 10, tzinfo=UTC),
    )
    day = timerange.from_query(QueryDict("from=2026-11-20&to=2026-11-20"), now)
    assert day.hours == 24
    assert timerange.from_query(QueryDict("range=24h"), now).end == datetime(
        2026, 11, 24, 16, tzinfo=UTC
    )
