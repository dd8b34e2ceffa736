"""Analytics over 30 days of a busy site: 10,000,000 RequestLog rows (a month at ~4 req/s, made
with generate_series: 20,000 addresses, 2,000 paths, a dozen agents, referrers, places), their
rollups counted from the rows in SQL as the drain would have kept them, the finished days
compacted by the app's own compaction, and the visitor sketches built from the rows. Measured:
the page's data (?format=json, every table and series) for the last 30 days, with and without
the own traffic, and a path's drill-down; baseline: one COUNT(*) of the same 30 days of rows,
in the same run. Budget: < 1 s.

    BENCH_ANALYTICS_ROWS=10000000 (default) .venv/bin/python scripts/bench/bench_analytics.py
"""

import os
import time
from datetime import timedelta

import benchlib

ROWS = int(os.environ.get("BENCH_ANALYTICS_ROWS", "10000000"))
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "",
]


def populate(cursor, now) -> None:
    """10M rows over the 30 days before now; i-th row i * 30 days / ROWS after the start."""
    from security.requestlog import agents

    start = now - timedelta(days=30)
    cursor.execute("CREATE TEMPORARY TABLE bench_agents (n int, ua text, bot boolean, "
                   "browser text, os text, device text, botname text)")  # fmt: skip
    for n, agent in enumerate(AGENTS):
        found = agents.classify(agent)
        cursor.execute(
            "INSERT INTO bench_agents VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [n, agent, bool(found.bot), found.browser, found.os, found.device, found.bot],
        )
    cursor.execute(
        """
        INSERT INTO security_requestlog (record_id, timestamp, ip_address, method, path, query,
            status_code, duration_ms, username, user_agent, referer, blocked, country_code,
            country, city, geo_source)
        SELECT md5(i::text)::uuid,
               %s::timestamptz + (i * interval '1 second' * 2592000 / %s),
               ('10.' || (a / 65536) || '.' || (a / 256 %% 256) || '.' || (a %% 256))::inet,
               'GET',
               CASE WHEN i %% 10 = 0 THEN '/static/app-' || (i %% 40) || '.css'
                    ELSE '/page/' || ((i * 7) %% 2000) || '/' END,
               '',
               CASE WHEN i %% 23 = 0 THEN 404 WHEN i %% 97 = 0 THEN 500 ELSE 200 END,
               3, '', (SELECT ua FROM bench_agents WHERE n = i %% 12),
               CASE WHEN i %% 5 = 0 THEN 'https://site' || (i %% 50) || '.example/' ELSE '' END,
               false,
               'C' || chr((65 + a %% 26)::int), 'Country ' || (a %% 26),
               'City ' || (a %% 400), 'local'
        FROM (SELECT i, ((i::bigint * i) %% 20011) %% 20000 AS a
              FROM generate_series(1, %s) AS i) AS s
        """,
        [start, ROWS, ROWS],
    )


ROLLUPS = """
INSERT INTO security_requestrollup (hour, kind, key, shard, count)
SELECT date_trunc('hour', r.timestamp), {kind}, {key}, 0, count(*)
FROM security_requestlog r JOIN bench_agents a ON a.ua = r.user_agent
WHERE {where} GROUP BY 1, 3
"""
PAGEVIEW = "r.method = 'GET' AND r.status_code BETWEEN 200 AND 299 AND NOT a.bot AND r.path NOT LIKE '%%.css'"  # noqa: E501
DIMENSIONS = [
    ("'ip'", "host(r.ip_address)", "true"),
    ("'total'", "''", "true"),
    ("'status'", "r.status_code::text", "true"),
    ("'path'", "left(r.path, 200)", "true"),
    ("'country'", "r.country_code", "true"),
    ("'v.hits'", "CASE WHEN a.bot THEN 'bot' ELSE 'person' END", "true"),
    ("'v.status'", "r.status_code::text", "true"),
    ("'v.country'", "r.country_code || chr(9) || r.country", "true"),
    ("'v.bot'", "a.botname", "a.bot"),
    ("'v.browser'", "a.browser", "NOT a.bot"),
    ("'v.os'", "a.os", "NOT a.bot"),
    ("'v.device'", "a.device", "NOT a.bot"),
    ("'v.views'", "''", PAGEVIEW),
    ("'v.page'", "left(r.path, 200)", PAGEVIEW),
    ("'v.pstatus'", "left(r.status_code || chr(9) || r.path, 200)", "true"),
    ("'v.static'", "r.path", "r.path LIKE '%%.css'"),
    ("'v.missing'", "r.path", "r.status_code = 404"),
    ("'v.referer'", "split_part(r.referer, '/', 3)", "r.referer <> ''"),
    ("'v.city'", "r.country_code || chr(9) || r.city", "true"),
]


def build_rollups(cursor) -> None:
    for kind, key, where in DIMENSIONS:
        cursor.execute(ROLLUPS.format(kind=kind, key=key, where=where))


def build_sketches(cursor, now) -> None:
    from security.models import Audience, SketchSpan, VisitorSketch
    from security.requestlog import sketches

    ds = sketches._datasketches()
    key = sketches._hash_key()
    made = []
    for span, unit in ((SketchSpan.HOUR, "hour"), (SketchSpan.DAY, "day")):
        cursor.execute(
            f"SELECT date_trunc('{unit}', r.timestamp), a.bot, array_agg(DISTINCT "
            "host(r.ip_address)) FROM security_requestlog r JOIN bench_agents a "
            "ON a.ua = r.user_agent GROUP BY 1, 2"
        )
        for period, bot, addresses in cursor.fetchall():
            sketch = ds.hll_sketch(sketches.LG_K, ds.tgt_hll_type.HLL_8)
            for address in addresses:
                sketch.update(sketches.item(address, key))
            audience = Audience.BOTS if bot else Audience.PEOPLE
            made.append(VisitorSketch(span=span, period=period, audience=audience,
                                      sketch=sketch.serialize_compact()))  # fmt: skip
    VisitorSketch.objects.bulk_create(made, batch_size=500)


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from security.models import RequestLog, RequestRollup, RollupCompaction, VisitorSketch
    from security.requestlog import compaction

    now = timezone.now()
    benchlib.empty(RequestLog, RequestRollup, VisitorSketch, RollupCompaction)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        populate(cursor, now)
        build_rollups(cursor)
        build_sketches(cursor, now)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE security_requestrollup")
        cursor.execute("ANALYZE security_requestlog")
    days = 0
    while done := compaction.compact(now, most=40):
        days += done
    took = time.perf_counter() - started
    rollup_rows = RequestRollup.objects.count()
    print(
        f"  {ROWS:,} rows, rollups, sketches, {days} days compacted: {took:.0f} s; "
        f"{rollup_rows:,} rollup rows"
    )

    client = benchlib.operator_client()

    def fetch(query: str):
        return benchlib.page_fetch(client, f"/security/analytics/?{query}")

    data = client.get("/security/analytics/?range=30d&format=json").json()
    assert data["summary"]["requests"] >= ROWS * 0.95, data["summary"]
    month = benchlib.timed(fetch("range=30d&format=json"), repeat=3)
    month_own = benchlib.timed(fetch("range=30d&own=1&format=json"), repeat=3)
    drill = benchlib.timed(fetch("range=30d&path=/page/7/&format=json"), repeat=3)
    page = benchlib.timed(fetch("range=30d"), repeat=3)
    since = now - timedelta(days=30)
    baseline = benchlib.timed(
        lambda: RequestLog.objects.filter(timestamp__gte=since).count(), repeat=2
    )
    return [
        benchlib.Result(f"analytics data, 30 days, {ROWS:,} rows", month, "s",
                        "COUNT(*) of the 30 days", baseline, "< 1 s", month < 1.0),
        benchlib.Result("the same with own traffic", month_own, "s",
                        "COUNT(*) of the 30 days", baseline, "< 1 s", month_own < 1.0),
        benchlib.Result("a path's drill-down, 30 days", drill, "s",
                        "COUNT(*) of the 30 days", baseline, "< 1 s", drill < 1.0),
        benchlib.Result("the page itself (HTML)", page, "s",
                        "COUNT(*) of the 30 days", baseline, "< 1 s", page < 1.0),
    ]  # fmt: skip


if __name__ == "__main__":
    benchlib.print_results(run())
