"""Geolocation: local MaxMind database first, then the shared cache, then an HTTP API.

    lookup_many(ips)  (the drain, once per batch; never on the request path)
      -> local.local_database   GeoLite2-City, reopened when the file is replaced
      -> cache.cache_get_many   API answers shared by every process (Redis)
      -> api.geo_api            ip-api.com-compatible, breaker + rate limit + total deadline

The country and network rules (blocking/georules.py) read local.raw_city_database and
local.raw_asn_database only: never the cache or the API.
"""

from ..addresses import classify_address
from .api import GeoApi, geo_api
from .cache import CACHE_PREFIX, cache_get_many
from .local import (
    LocalDatabase,
    asn_of,
    country_code_of,
    local_database,
    raw_asn_database,
    raw_city_database,
)
from .result import GeoResult

__all__ = [
    "CACHE_PREFIX",
    "GeoApi",
    "GeoResult",
    "LocalDatabase",
    "asn_of",
    "country_code_of",
    "geo_api",
    "local_database",
    "lookup",
    "lookup_many",
    "raw_asn_database",
    "raw_city_database",
]


def lookup_many(ips: set[str] | list[str], use_network: bool = True) -> dict[str, GeoResult]:
    """Country and city for each IP: local database, then cache, then the API.

    use_network=False stays on this machine (no cache, no API): for the fallback path that runs
    when Redis is down.
    """
    results: dict[str, GeoResult] = {}
    remote: list[str] = []
    reader = local_database.reader()
    for raw in dict.fromkeys(ips):
        # The local database parses (and refuses) addresses itself; only what goes to the
        # API is parsed here, so a batch of 50,000 new addresses costs no 50,000 parses.
        local = local_database.lookup(raw, reader) if reader is not None else None
        if local is not None:
            results[raw] = local
            continue
        ip, public = classify_address(raw) if use_network else (None, False)
        if public and ip is not None:
            remote.append(ip)
        else:
            results[raw] = GeoResult(ip=ip or raw)
    if not remote:
        return results
    cached = cache_get_many(remote)
    results.update(cached)
    missing = [ip for ip in remote if ip not in cached]
    if missing and geo_api.available():
        results.update(geo_api.lookup(missing))
    for ip in missing:
        results.setdefault(ip, GeoResult(ip=ip))
    return results


def lookup(ip: str, use_network: bool = True) -> GeoResult:
    return lookup_many([ip], use_network)[ip]
