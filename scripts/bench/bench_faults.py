"""The logging pipeline and the blocklist under faults, each against a same-run baseline:

- throughput with Redis and the database both cut off from the web process (after start),
  against the same server with both up: budget >= 0.80 (WSGI and ASGI);
- request latency (p99) with 200,000 blocked networks while blocks change every second,
  against the same server with no changes: no request waits on a reload (budget: p99 under
  a tenth of the 1.6 s a reload took when it ran on a request);
- records a SIGKILLed web worker loses, against one flush interval of its traffic (the bound);
- how long a SIGKILLed drain's records wait, against 2 x SECURITY_LOG_CLAIM_IDLE_SECONDS.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import benchlib

from tests.faultproxy import FaultProxy

RELOAD_NETWORKS = 200_000


def proxied_env() -> tuple[dict[str, str], list[FaultProxy]]:
    from django.conf import settings

    database = settings.DATABASES["default"]
    db_proxy = FaultProxy(database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432))
    redis = urllib.parse.urlparse(os.environ["REDIS_URL"])
    redis_proxy = FaultProxy(redis.hostname or "127.0.0.1", redis.port or 6379)
    user = database.get("USER") or "postgres"
    env = {
        "DATABASE_URL": f"postgres://{user}@127.0.0.1:{db_proxy.port}/{database['NAME']}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}{redis.path or '/0'}",
    }
    return env, [db_proxy, redis_proxy]


def run_both_down(asgi: bool, rounds: int = 3, seconds: int = 4) -> benchlib.Result:
    env, proxies = proxied_env()
    server, url = benchlib.start_gunicorn("bench_settings", asgi=asgi, env=env)
    target = url + "/trivial/"
    rates: dict[str, list[float]] = {"up": [], "down": []}
    try:
        benchlib.wrk_rate(target, seconds=2)  # loads the blocklist, warms up
        for _ in range(rounds):
            rates["up"].append(benchlib.wrk_rate(target, seconds=seconds))
            for proxy in proxies:
                proxy.cut()
            rates["down"].append(benchlib.wrk_rate(target, seconds=seconds))
            for proxy in proxies:
                proxy.heal()
            time.sleep(3)  # the held records go out before the next "up" round
    finally:
        server.stop()
        for proxy in proxies:
            proxy.stop()
    up, down = (sorted(rates[k])[len(rates[k]) // 2] for k in ("up", "down"))
    return benchlib.Result(
        f"Redis and database both down ({'ASGI' if asgi else 'WSGI'})",
        down,
        "req/s",
        "both up",
        up,
        ">= 0.80",
        down / up >= 0.80,
    )


def wrk_p99_ms(url: str, seconds: int) -> float:
    output = subprocess.run(
        [benchlib.require_wrk(), "-t2", "-c8", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_reload_latency(seconds: int = 8) -> benchlib.Result:
    from bench_blocklist import random_networks

    from security.blocking import changes
    from security.models import BlockedIP

    BlockedIP.objects.all().delete()
    changes.block(random_networks(RELOAD_NETWORKS), reason="benchmark")
    server, url = benchlib.start_gunicorn("bench_settings")
    target = url + "/trivial/"
    try:
        benchlib.wrk_rate(target, seconds=2)
        time.sleep(5)  # every worker has compiled the 200k networks once
        steady = wrk_p99_ms(target, seconds)
        stop = threading.Event()

        def change_blocks() -> None:
            n = 0
            while not stop.wait(1.0):
                n += 1
                changes.block([f"192.0.2.{n % 250}"], reason="benchmark change")

        changer = threading.Thread(target=change_blocks, daemon=True)
        changer.start()
        changing = wrk_p99_ms(target, seconds)
        stop.set()
        changer.join()
    finally:
        server.stop()
        BlockedIP.objects.all().delete()
    return benchlib.Result(
        "p99 latency, 200k networks, blocks changing",
        changing,
        "ms",
        "no changes",
        steady,
        "< 160 ms",
        changing < 160,
    )


def worker_pids(server) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(server.process.pid).children()]


def run_sigkill_loss(seconds: int = 6) -> benchlib.Result:
    from security.redis_client import get_redis
    from security.requestlog import keys, records

    client = get_redis()
    client.delete(keys.stream())
    server, url = benchlib.start_gunicorn("bench_settings", workers=1)
    try:
        benchlib.wrk_rate(url + "/trivial/", seconds=1)
        time.sleep(1.5)
        client.delete(keys.stream())
        load = subprocess.Popen(
            [benchlib.require_wrk(), "-t2", "-c8", f"-d{seconds}s", url + "/trivial/"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(seconds / 2)
        os.kill(worker_pids(server)[0], signal.SIGKILL)
        output, _ = load.communicate()
        time.sleep(2.5)  # the new worker flushes its share
        answered = int(re.search(r"(\d+) requests in", output).group(1))
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    finally:
        server.stop()
    logged = sum(
        len(records.decode_batch(fields[b"b"])) for _id, fields in client.xrange(keys.stream())
    )
    # Requests cut off mid-response by the kill are counted by neither side.
    lost = max(0, answered - logged)
    return benchlib.Result(
        "records lost per SIGKILL of a web worker",
        lost,
        "records",
        "1 s of its traffic",
        rate,
        "<= 1 flush interval",
        lost <= rate * 1.0,
    )


def run_claim_recovery(idle: float = 5.0, count: int = 20_000) -> benchlib.Result:
    from mirakuru import SimpleExecutor

    from security.models import RequestLog
    from security.redis_client import get_redis
    from security.requestlog import keys, records, stream

    get_redis().delete(keys.stream())
    benchlib.empty(RequestLog)
    now = time.time()
    batch = [
        records.Record(f"{i:032x}", now, "198.51.100.7", "GET", "/claim/", 200)
        for i in range(1, count + 1)
    ]
    stream.publish([records.encode_batch(batch[i : i + 500]) for i in range(0, count, 500)])
    env = {**benchlib.server_env("bench_settings"), "SECURITY_LOG_CLAIM_IDLE_SECONDS": str(idle)}
    command = [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "1"]

    def worker() -> SimpleExecutor:
        process = SimpleExecutor(
            command,
            cwd=str(benchlib.ROOT),
            envvars=env,
            stop_signal=signal.SIGINT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process.start()
        return process

    stream.request_drain()
    first = worker()
    while RequestLog.objects.filter(path="/claim/").count() == 0:
        time.sleep(0.01)
    first.kill()  # SIGKILL mid-drain: what it read stays pending under its name
    killed_at = time.monotonic()
    second = worker()
    try:
        while RequestLog.objects.filter(path="/claim/").count() < count:
            stream.forget_pending_drain()
            stream.request_drain()  # what any web traffic does after its flush
            time.sleep(0.5)
        waited = time.monotonic() - killed_at
    finally:
        second.stop()
    stored = RequestLog.objects.filter(path="/claim/").count()
    benchlib.empty(RequestLog)
    return benchlib.Result(
        "a killed drain's records stored again after",
        waited,
        "s",
        "2 x claim idle",
        2 * idle,
        "<= 2 x idle",
        waited <= 2 * idle and stored == count,
    )


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    return [
        run_both_down(asgi=False),
        run_both_down(asgi=True),
        run_reload_latency(),
        run_sigkill_loss(),
        run_claim_recovery(),
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
