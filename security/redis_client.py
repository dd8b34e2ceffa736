"""One Redis client per URL per process; redis-py's pool reconnects by itself after a fork."""

from functools import lru_cache

import redis

from .conf import conf


@lru_cache(maxsize=4)
def _client_for(url: str, options: tuple) -> redis.Redis:
    return redis.Redis.from_url(url, **dict(options))


def get_redis() -> redis.Redis:
    return _client_for(conf.REDIS_URL, tuple(sorted(conf.REDIS_CLIENT_OPTIONS.items())))
