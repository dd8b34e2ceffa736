"""The rate-limit counters' cache: Django's RedisCache that turns a Redis outage into a miss.

django-ratelimit only knows that counting failed when add/incr/get say so; it does not catch
connection errors itself (its issue #333), so without this a Redis outage is a 500 on every
rate-limited view. What a failed count means is SECURITY_RATELIMIT_FAIL_OPEN's decision.
"""

import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 60.0


class FailSafeRedisCache(RedisCache):
    _last_warning = 0.0

    def _redis_failed(self, error: RedisError) -> None:
        now = time.monotonic()
        if now - FailSafeRedisCache._last_warning >= WARN_EVERY_SECONDS:
            FailSafeRedisCache._last_warning = now
            logger.warning("rate-limit cache unreachable, counting suspended: %s", error)

    def add(self, key, value, timeout=None, version=None):  # type: ignore[override]
        try:
            return super().add(key, value, timeout, version)
        except RedisError as error:
            self._redis_failed(error)
            return False

    def incr(self, key, delta=1, version=None):  # type: ignore[override]
        try:
            return super().incr(key, delta, version)
        except RedisError as error:
            self._redis_failed(error)
            raise ValueError("rate-limit counter unavailable") from error

    def get(self, key, default=None, version=None):  # type: ignore[override]
        try:
            return super().get(key, default, version)
        except RedisError as error:
            self._redis_failed(error)
            return default
