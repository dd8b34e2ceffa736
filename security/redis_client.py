"""One Redis client per URL per process; redis-py's pool reconnects by itself after a fork."""

from functools import lru_cache

import redis
from django.conf import settings

from .conf import conf


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    options = getattr(settings, "REDIS_CLIENT_OPTIONS", {})
    return redis.Redis.from_url(url, **options)


def get_redis() -> redis.Redis:
    return _client_for(conf.REDIS_URL)
