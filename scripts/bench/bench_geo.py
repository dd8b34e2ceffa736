"""Geolocation: cost of a local GeoLite2 lookup and of a cached (Redis) lookup.

Uses a database built here with mmdb-writer (a development dependency: run scripts/test.sh
first). The local lookup is expected to be cheaper than a Redis round trip, which is why
only API answers are cached.
"""

import random
import tempfile
import time
from pathlib import Path

import benchlib


def build_database(folder: Path, networks: int = 5000) -> None:
    from tests.geodata import write_city_db

    rng = random.Random(3)
    cities = {}
    for _ in range(networks):
        address = rng.getrandbits(24) << 8
        octets = ".".join(str((address >> s) & 255) for s in (24, 16, 8, 0))
        cities[f"{octets}/24"] = ("SE", "Sweden", "Linköping")
    write_city_db(folder / "GeoLite2-City.mmdb", cities)


def run(count: int = 20_000) -> list[benchlib.Result]:
    benchlib.setup_django()
    from django.core.cache import cache
    from django.test import override_settings

    from security import geo

    with tempfile.TemporaryDirectory() as folder:
        build_database(Path(folder))
        with override_settings(GEOIP_PATH=folder, SECURITY_GEO_API_URL=""):
            geo.local_database.__init__()
            rng = random.Random(5)
            ips = [".".join(str(rng.randrange(1, 224)) for _ in range(4)) for _ in range(count)]
            started = time.perf_counter()
            for ip in ips:
                geo.local_database.lookup(ip)
            local_us = (time.perf_counter() - started) / count * 1e6

            public = [f"8.8.{i // 256}.{i % 256}" for i in range(2000)]
            cache.set_many(
                {geo.CACHE_PREFIX + ip: geo.GeoResult(ip, "US").as_dict() for ip in public}
            )
            with override_settings(GEOIP_PATH=str(Path(folder) / "none")):
                geo.local_database.__init__()
                started = time.perf_counter()
                for ip in public:
                    assert geo.lookup(ip).source == "cache"
                cached_us = (time.perf_counter() - started) / len(public) * 1e6
            cache.delete_many([geo.CACHE_PREFIX + ip for ip in public])
    return [
        benchlib.Result(
            "geolocation, local database lookup",
            local_us,
            "us",
            "cached lookup (Redis)",
            cached_us,
            "local < cached",
            local_us < cached_us,
        )
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
