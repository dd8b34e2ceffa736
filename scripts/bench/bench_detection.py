"""Streaming detection: drain throughput with every rule on against detection off, in the same
run (budget: on >= 0.8 x off, and >= 15,000 records/s into PostgreSQL), for one drain and for
the Procfile's worker (4 threads: under a backlog, 4 drains at once); and the time from an
offending request to its SuspiciousIP row with a real server and worker (budget: p95 <= 2 s).

The drained traffic is a realistic mix: mostly ordinary pages, some with query strings, a few
percent 404s and probes, each record from a private address not seen before (every window is
new; geolocation classifies each address, and sends none to the cache or an API).
"""

import signal
import statistics
import subprocess
import sys
import threading
import time

import benchlib
import requests

PROBES = ["/.env", "/wp-login.php", "/.git/config", "/phpmyadmin/", "/xmlrpc.php"]


def mixed_records(count: int) -> list:
    from security.requestlog.record_ids import record_ids
    from security.requestlog.records import Record

    now = time.time()
    batch = []
    for i in range(count):
        ip = f"10.{(i >> 12) & 255}.{(i >> 4) & 255}.{i & 15}"
        if i % 50 == 0:
            path, status, query = PROBES[(i // 50) % len(PROBES)], 404, ""
        elif i % 10 == 0:
            path, status, query = f"/missing/{i}/", 404, ""
        elif i % 4 == 0:
            path, status, query = "/search/", 200, f"q=term+{i}&page={i % 7}"
        else:
            path, status, query = f"/page/{i % 300}/", 200, ""
        batch.append(
            Record(
                next(record_ids.counter),  # as the web processes write them
                now - (count - i) * 0.001,
                ip,
                "GET",
                path,
                status,
                3,
                user_agent="Mozilla/5.0 (benchmark)",
                query=query,
            )
        )
    return batch


def drain_rate(streaming: bool, count: int, drains: int = 1) -> float:
    """Records stored per second from a backlog of `count`, by `drains` drains at once in one
    process (threads, each on its own connections, as rundramatiq's worker threads run them)."""
    from django.db import connections
    from django.test.utils import override_settings

    from security import tasks
    from security.models import RequestLog, RequestRollup, SuspiciousIP
    from security.redis_client import get_redis
    from security.requestlog import keys, records, stream

    client = get_redis()
    client.delete(keys.stream())
    for key in client.scan_iter("security:detect:*"):
        client.delete(key)
    benchlib.empty(RequestLog, RequestRollup, SuspiciousIP)
    batch = mixed_records(count)
    stream.publish([records.encode_batch(batch[i : i + 500]) for i in range(0, count, 500)])

    def drain_until_empty() -> None:
        try:
            while tasks.drain_logs(time_budget=120):
                pass
        finally:
            connections.close_all()

    # No linger: a drain that waits for the next flush once the stream is empty is idle, not
    # slow, and the wait would count against the rate.
    with override_settings(SECURITY_DETECT_STREAMING=streaming, SECURITY_LOG_DRAIN_LINGER=0):
        started = time.perf_counter()
        threads = [threading.Thread(target=drain_until_empty) for _ in range(drains)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    stored = RequestLog.objects.count()
    assert stored == count, f"{stored} of {count} records stored"
    if streaming:
        assert SuspiciousIP.objects.exists(), "streaming flagged nothing"
    return count / elapsed


def run_drain(count: int = 50_000, rounds: int = 3) -> list[benchlib.Result]:
    results = []
    for drains, label in ((1, "one drain"), (4, "4 drains at once (rundramatiq --threads 4)")):
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(rounds):
            for streaming in (False, True):
                rates[streaming].append(drain_rate(streaming, count, drains))
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        results.append(
            benchlib.Result(
                f"drain with every rule on, {label}",
                on,
                "rec/s",
                "detection off",
                off,
                ">= 0.80 and >= 15,000/s",
                on / off >= 0.80 and on >= 15_000,
            )
        )
    return results


def run_time_to_flag(probes: int = 60) -> list[benchlib.Result]:
    from mirakuru import SimpleExecutor

    from security.models import SuspiciousIP

    benchlib.empty(SuspiciousIP)
    server, url = benchlib.start_gunicorn(
        "bench_settings", env={"SECURITY_TRUSTED_PROXIES": "127.0.0.1"}
    )
    worker = SimpleExecutor(
        [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"],
        cwd=str(benchlib.ROOT),
        envvars=benchlib.server_env("bench_settings"),
        stop_signal=signal.SIGINT,  # dramatiq's own graceful stop
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker.start()
    sent: dict[str, float] = {}
    try:
        session = requests.Session()
        for i in range(probes):
            ip = f"198.18.{i // 200}.{i % 200 + 1}"
            sent[ip] = time.time()
            session.get(url + PROBES[i % len(PROBES)], headers={"X-Forwarded-For": ip})
            time.sleep(0.1)  # a probe every 100 ms: each lands in a different flush
        deadline = time.monotonic() + 60
        while SuspiciousIP.objects.filter(ip_address__in=sent).count() < probes:
            if time.monotonic() > deadline:
                raise SystemExit("not every probe was flagged within 60 s")
            time.sleep(0.2)
    finally:
        worker.stop()
        server.stop()
    delays = sorted(
        detected.timestamp() - sent[ip]
        for ip, detected in SuspiciousIP.objects.filter(ip_address__in=sent).values_list(
            "ip_address", "detected_at"
        )
    )
    p50 = statistics.median(delays)
    p95 = delays[int(len(delays) * 0.95) - 1]
    benchlib.empty(SuspiciousIP)
    return [
        benchlib.Result(
            "time to flag (streaming), p95",
            p95,
            "s",
            "p50",
            p50,
            "<= 2 s",
            p95 <= 2,
        )
    ]


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    return run_drain() + run_time_to_flag()


if __name__ == "__main__":
    benchlib.print_results(run())
