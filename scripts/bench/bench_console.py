"""The operator's console on a big log: ROWS RequestLog rows over 30 days made with
generate_series (20,000 addresses; one busy address sends 1% of all requests, so its page
meets the sample cap; every 50th request answered 403 or 429), plus flags and blocks. Measured:
the address page of the busy address, of a quiet one and of a /16 network; the security
events' first page, a page 20 pages deep (following the keyset links), and filtered by a
network and by status. Baseline, same run: one COUNT(*) of the busy address's index range.
Budgets: an address page < 300 ms, the events view < 500 ms.

    .venv/bin/python scripts/bench/bench_console.py [ROWS]    (default 10,000,000)
    BENCH_DATABASE_URL / BENCH_REDIS_URL as for every benchmark
"""

import sys
import time
from datetime import timedelta

import benchlib

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
BUSY = "10.0.0.7"
QUIET = "10.0.78.9"


def populate(cursor, now) -> None:
    cursor.execute(
        """
        INSERT INTO security_requestlog (record_id, timestamp, ip_address, method, path, query,
            status_code, duration_ms, username, user_agent, referer, blocked, country_code,
            country, city, geo_source)
        SELECT md5(i::text)::uuid,
               %s::timestamptz + (i::float8 * 2592000 / %s) * interval '1 second',
               CASE WHEN i %% 100 = 0 THEN %s::inet
                    ELSE ('10.' || (a / 65536) || '.' || (a / 256 %% 256) || '.' || (a %% 256))::inet END,
               'GET', '/page/' || ((i * 7) %% 2000) || '/',
               CASE WHEN i %% 3 = 0 THEN 'q=' || (i %% 300) ELSE '' END,
               CASE WHEN i %% 50 = 0 THEN 403 WHEN i %% 50 = 1 THEN 429 WHEN i %% 23 = 0 THEN 404
                    ELSE 200 END,
               3, '', 'agent/' || (i %% 30), '', i %% 50 = 0, 'SE', 'Sweden', 'Stockholm', 'local'
        FROM (SELECT i, ((i::bigint * i) %% 20011) %% 20000 AS a
              FROM generate_series(1, %s) AS i) AS s
        """,  # noqa: E501
        [now - timedelta(days=30), ROWS, BUSY, ROWS],
    )
    cursor.execute(
        """
        INSERT INTO security_suspiciousip (ip_address, reason, window_start, window_end,
            requests, total_requests, evidence, first_seen, last_seen, detected_at, status,
            signature, detected_by, would_block)
        SELECT ('10.0.' || (n / 256) || '.' || (n %% 256))::inet, 'probe',
               %s::timestamptz - n * interval '1 minute',
               %s::timestamptz - n * interval '1 minute' + interval '1 hour', 3, 3,
               '{"rule": "probe", "signature": "sensitive_files: .env", "requests": []}',
               %s, %s, %s::timestamptz - n * interval '1 minute', 'new',
               'sensitive_files: .env', 'stream', false
        FROM generate_series(1, 20000) AS n
        """,
        [now, now, now, now, now],
    )
    cursor.execute(
        """
        INSERT INTO security_blockedip (ip_address, reason, source, created_at, expires_at,
            strikes, feed)
        SELECT '10.1.' || (n / 256) || '.' || (n %% 256), 'bench', 'automatic',
               %s::timestamptz - n * interval '2 minutes', %s::timestamptz + interval '1 day',
               1, ''
        FROM generate_series(1, 10000) AS n
        """,
        [now, now],
    )
    cursor.execute(
        "INSERT INTO security_blockedip (ip_address, reason, source, created_at, strikes, feed) "
        "VALUES ('10.0.0.0/16', '', 'feed', %s, 0, 'bench_feed')",
        [now],
    )


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from security.models import BlockedIP, RequestLog, SuspiciousIP

    now = timezone.now()
    benchlib.empty(RequestLog, SuspiciousIP, BlockedIP)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        populate(cursor, now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE security_requestlog")
        cursor.execute("ANALYZE security_suspiciousip")
        cursor.execute("ANALYZE security_blockedip")
    print(f"  {ROWS:,} rows, 20,000 flags, 10,001 blocks: {time.perf_counter() - started:.0f} s")

    client = benchlib.operator_client()

    def fetch(url: str):
        return benchlib.page_fetch(client, url)

    def deep_events_url(pages: int) -> str:
        url = "/security/events/?range=30d"
        for _ in range(pages):
            page = client.get(url).content.decode()
            url = "/security/events/" + page.split('id="next" href="')[1].split('"')[0]
            url = url.replace("&amp;", "&")
        return url

    busy_rows = RequestLog.objects.filter(ip_address=BUSY).count()
    baseline = benchlib.timed(lambda: RequestLog.objects.filter(ip_address=BUSY).count(), 3)
    print(f"  the busy address has {busy_rows:,} rows")
    deep = deep_events_url(20)
    timings = {
        "address page, the busy address": fetch(f"/security/ip/{BUSY}/"),
        "address page, a quiet address": fetch(f"/security/ip/{QUIET}/"),
        "address page, a /16 network": fetch("/security/ip/10.0.0.0/16/"),
        "events, first page (30 days)": fetch("/security/events/?range=30d"),
        "events, 20 pages deep": fetch(deep),
        "events, one /16, 403s": fetch("/security/events/?range=30d&ip=10.0.0.0/16&status=403"),
        "events, the busy address": fetch(f"/security/events/?range=30d&ip={BUSY}"),
        "admin: request log, first page": fetch("/admin/security/requestlog/"),
        "admin: request log, page 500": fetch("/admin/security/requestlog/?p=500"),
        "admin: request log, one address": fetch(f"/admin/security/requestlog/?q={BUSY}"),
        "admin: request log, status 4xx": fetch("/admin/security/requestlog/?status=4xx"),
        "admin: request log, path search": fetch("/admin/security/requestlog/?q=%2Fwp-login"),
        "admin: suspicious IPs": fetch("/admin/security/suspiciousip/"),
        "admin: blocked IPs": fetch("/admin/security/blockedip/"),
    }
    results = []
    for name, call in timings.items():
        value = benchlib.timed(call, 3)
        budget = {"address": 0.3, "events": 0.5, "admin:": 1.0}[name.split()[0].rstrip(",")]
        results.append(benchlib.Result(f"{name}, {ROWS:,} rows", value, "s",
                                       "COUNT(*) busy address", baseline,
                                       f"< {budget * 1000:.0f} ms", value < budget))  # fmt: skip
    return results


if __name__ == "__main__":
    benchlib.print_results(run())
