"""Threat feeds and country rules, each against a same-run baseline:

- importing a 1,000,000-entry feed (time), and the memory of a web process once it has loaded
  it, against the same process with an empty blocklist;
- request throughput with the feed loaded, against an empty blocklist (budget >= 0.95);
- the cost of a country rule per request, against no rule (in process, per lookup).
"""

import random
import statistics
import tempfile
import time
from pathlib import Path

import benchlib
import psutil
import requests

ENTRIES = 1_000_000


def feed_file(count: int) -> Path:
    rng = random.Random(11)
    seen = set()
    while len(seen) < count:
        seen.add(rng.getrandbits(32) & 0xFFFFFF00)
    lines = [
        f"{(n >> 24) & 255}.{(n >> 16) & 255}.{(n >> 8) & 255}.0/24"
        for n in sorted(seen)
        if (n >> 24) not in (0, 10, 127) and (n >> 24) < 224
    ]
    path = Path(tempfile.mkdtemp()) / "feed.txt"
    path.write_text("# benchmark feed\n" + "\n".join(lines) + "\n")
    return path


def web_memory_mib(server) -> float:
    children = psutil.Process(server.process.pid).children()
    return statistics.mean(child.memory_info().rss for child in children) / 2**20


def run_feed(rounds: int = 3, seconds: int = 5) -> list[benchlib.Result]:
    from security.blocking import feed_config, feeds
    from security.models import BlockedIP

    BlockedIP.objects.all().delete()
    # Trusting 127.0.0.1 lets the benchmark ask as a blocked client (X-Forwarded-For); wrk's
    # own requests come from 127.0.0.1, which no feed entry covers.
    server, url = benchlib.start_gunicorn(
        "bench_settings", env={"SECURITY_TRUSTED_PROXIES": "127.0.0.1"}
    )
    target = url + "/trivial/"
    try:
        benchlib.wrk_rate(target, seconds=2)
        empty_memory = web_memory_mib(server)
        path = feed_file(ENTRIES)
        entries = sum(1 for line in path.read_text().splitlines() if not line.startswith("#"))
        started = time.perf_counter()
        feeds.refresh(feed_config.make_feed("bench", {"file": str(path), "max_entries": 2_000_000}))
        import_seconds = time.perf_counter() - started
        # Every web worker compiles the list in its background thread; wait until it serves
        # a blocked address with 403.
        first = BlockedIP.objects.values_list("ip_address", flat=True).first()
        blocked_client = first.split("/")[0].rsplit(".", 1)[0] + ".9"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            statuses = {
                requests.get(target, headers={"X-Forwarded-For": blocked_client}).status_code
                for _ in range(8)
            }
            if statuses == {403}:
                break
            time.sleep(1)
        time.sleep(2)
        full_memory = web_memory_mib(server)
        rates = {"full": [], "empty": []}
        for _ in range(rounds):
            rates["full"].append(benchlib.wrk_rate(target, seconds=seconds))
        BlockedIP.objects.all().delete()
        from security.blocking import changes

        changes.announce_change()
        time.sleep(8)
        for _ in range(rounds):
            rates["empty"].append(benchlib.wrk_rate(target, seconds=seconds))
    finally:
        server.stop()
        BlockedIP.objects.all().delete()
    full, empty = statistics.median(rates["full"]), statistics.median(rates["empty"])
    print(f"imported a feed of {entries:,} networks in {import_seconds:.1f} s")
    return [
        benchlib.Result(
            f"import a {entries / 1e6:.1f}M-entry feed",
            import_seconds,
            "s",
            "(no baseline)",
            0.0,
            "reported",
            True,
        ),
        benchlib.Result(
            "web process memory with the feed loaded",
            full_memory,
            "MiB",
            "empty blocklist",
            empty_memory,
            "reported",
            True,
        ),
        benchlib.Result(
            "server with a 1M-entry feed loaded",
            full,
            "req/s",
            "empty blocklist",
            empty,
            ">= 0.95",
            full / empty >= 0.95,
        ),
    ]


def run_country_rule(lookups: int = 20_000) -> list[benchlib.Result]:
    from django.test.utils import override_settings

    from security.blocking import georules
    from tests.geodata import write_city_db

    folder = Path(tempfile.mkdtemp())
    write_city_db(
        folder / "GeoLite2-City.mmdb",
        {f"{a}.0.0.0/8": ("DE" if a % 2 else "SE", "Country", "") for a in range(1, 200)},
    )
    rng = random.Random(3)
    # 20,000 clients: the per-process cache (65,536 addresses) holds them all the second time.
    ips = [
        f"{rng.randrange(1, 200)}.{rng.randrange(256)}.{rng.randrange(256)}.1"
        for _ in range(lookups)
    ]
    costs: dict[str, list[float]] = {"first": [], "again": [], "none": []}

    def per_lookup() -> float:
        started = time.perf_counter()
        for ip in ips:
            if georules.configured():
                georules.denial(ip)
        return (time.perf_counter() - started) / lookups * 1e6

    with override_settings(GEOIP_PATH=str(folder)):
        for _ in range(3):
            with override_settings(SECURITY_BLOCK_COUNTRIES=[]):
                costs["none"].append(per_lookup())
            with override_settings(SECURITY_BLOCK_COUNTRIES=["DE"]):
                georules._placed.cache_clear()
                costs["first"].append(per_lookup())  # every address seen for the first time
                costs["again"].append(per_lookup())  # the same clients again: cached
    first, again, none = (statistics.median(costs[k]) for k in ("first", "again", "none"))
    return [
        benchlib.Result(
            "country rule, first request of a client",
            first,
            "us",
            "no rule configured",
            none,
            "< 20 us",
            first < 20,
        ),
        benchlib.Result(
            "country rule, a client seen before",
            again,
            "us",
            "no rule configured",
            none,
            "< 2 us",
            again < 2,
        ),
    ]


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    return run_country_rule() + run_feed()


if __name__ == "__main__":
    benchlib.print_results(run())
