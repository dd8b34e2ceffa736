"""Anomaly scan over 1,000,000 log rows of the last hour on PostgreSQL, against a plain
COUNT(*) of the same window (the floor of any scan) measured in the same run. Also prints the
query plan of the aggregate, to show how the window is read. Budget: a few seconds."""

import time
from datetime import datetime, timedelta

import benchlib

ROWS = 1_000_000
OLDER_ROWS = 1_000_000
ROLLUP_KEYS = [
    ("total", "''"),
    ("status", "status_code::text"),
    ("country", "country_code"),
    ("ip", "host(ip_address)"),
    ("path", "left(path, 200)"),
]


def populate(rows: int = ROWS, older: int = OLDER_ROWS) -> datetime:
    """rows in the last hour (10,000 IPs, 2,000 paths, a few probers), older rows before it,
    and the hourly rollups the drain would have kept for them. Kept for the next run while
    they are less than an hour old. Returns the time of the newest row."""
    from django.db import connection
    from django.db.models import Max
    from django.utils import timezone

    from security.models import RequestLog, RequestRollup, SuspiciousIP

    newest = RequestLog.objects.aggregate(newest=Max("timestamp"))["newest"]
    fresh = newest is not None and newest > timezone.now() - timedelta(hours=1)
    if fresh and RequestLog.objects.count() == rows + older:
        return newest
    benchlib.empty(RequestLog, RequestRollup, SuspiciousIP)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for offset, count, age in ((0, rows, "59 minutes"), (rows, older, "0 minutes")):
            window = (
                "random() * interval '59 minutes'"
                if age == "59 minutes"
                else ("interval '2 hours' + random() * interval '22 hours'")
            )
            cursor.execute(
                f"""
                INSERT INTO security_requestlog (record_id, timestamp, ip_address, method, path,
                    query, status_code, duration_ms, username, user_agent, referer, blocked,
                    country_code, country, city, geo_source)
                SELECT md5(g::text)::uuid, now() - ({window}),
                    ('10.' || (g % 40) || '.' || ((g / 40) % 250) || '.1')::inet, 'GET',
                    CASE WHEN g % 20011 = 0 THEN '/.env' WHEN g % 997 = 0 THEN '/admin/login/'
                         ELSE '/page/' || (g % 2000) || '/' END,
                    CASE WHEN g % 30011 = 0 THEN 'id=1%27%20OR%20%271%27=%271'
                         WHEN g % 4 = 0 THEN 'q=term+' || (g % 5000) ELSE '' END,
                    CASE WHEN g % 50 = 0 THEN 404 WHEN g % 333 = 0 THEN 429 ELSE 200 END,
                    5, '', 'bench', '', false,
                    (ARRAY['SE','DE','US','FR','JP','BR'])[1 + g % 6], 'Country', 'City', 'local'
                FROM generate_series({offset} + 1, {offset} + {count}) AS g
                """
            )
        cursor.execute(
            "INSERT INTO security_requestrollup (hour, kind, key, shard, count) "
            + " UNION ALL ".join(
                f"SELECT date_trunc('hour', timestamp), '{kind}', {key}, 0, count(*) "
                "FROM security_requestlog GROUP BY 1, 3"
                for kind, key in ROLLUP_KEYS
            )
        )
        cursor.execute("ANALYZE security_requestlog; ANALYZE security_requestrollup")
    took = time.perf_counter() - started
    print(f"generated {rows + older:,} log rows and their rollups in {took:.1f} s")
    return RequestLog.objects.aggregate(newest=Max("timestamp"))["newest"]


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    from django.db import connection

    from security.detection import counting
    from security.detection import scan as detection
    from security.models import RequestLog

    if connection.vendor != "postgresql":
        raise SystemExit("bench_scan runs on PostgreSQL (BENCH_DATABASE_URL)")
    # The window ends at the newest generated row, so a rerun scans the same 1,000,000 rows.
    now = populate()
    start, end = detection.window_of(1, now)
    baseline = benchlib.timed(
        lambda: RequestLog.objects.filter(timestamp__gt=start, timestamp__lte=end).count()
    )
    findings: list = []
    seconds = benchlib.timed(lambda: findings.extend(detection.scan(hours=1, now=now)), repeat=2)
    query = counting.aggregate(detection.window_requests(start, end), counting.per_client_rules())
    plan = query.explain()
    print("anomaly scan query plan:")
    print("\n".join("    " + line for line in plan.splitlines()))
    flagged = {f.reason for f in findings}
    print(f"anomaly scan flagged reasons: {sorted(flagged)}")
    return [
        benchlib.Result(
            "anomaly scan, 1M rows in the last hour",
            seconds,
            "s",
            "COUNT(*) of the window",
            baseline,
            "a few seconds",
            seconds < 5,
        )
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
