"""The shared cache of API answers (best effort: a down Redis means a miss, never an error).
Only what the API answered is cached: a local lookup is cheaper than the round trip."""

import logging

from django.core.cache import cache
from redis.exceptions import RedisError

from ..conf import conf
from .result import GeoResult

logger = logging.getLogger(__name__)

CACHE_PREFIX = "geo:"


def cache_get_many(ips: list[str]) -> dict[str, GeoResult]:
    try:
        found = cache.get_many([CACHE_PREFIX + ip for ip in ips])
    except RedisError:
        return {}
    return {
        key[len(CACHE_PREFIX) :]: GeoResult(**{**value, "source": "cache"})
        for key, value in found.items()
        if isinstance(value, dict)
    }


def cache_store(results: dict[str, GeoResult], definitive: set[str]) -> None:
    long_lived = {CACHE_PREFIX + ip: r.as_dict() for ip, r in results.items() if ip in definitive}
    short_lived = {
        CACHE_PREFIX + ip: r.as_dict() for ip, r in results.items() if ip not in definitive
    }
    try:
        if long_lived:
            cache.set_many(long_lived, conf.GEO_CACHE_SECONDS)
        if short_lived:
            cache.set_many(short_lived, conf.GEO_UNKNOWN_CACHE_SECONDS)
    except RedisError as error:
        logger.warning("could not cache geolocation results: %s", error)
