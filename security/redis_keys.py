"""Redis keys that name an address, deleted when it is forgotten: detection windows and cached
geolocation answers (the stream, dead letters and queued alerts are erasure.py's)."""

from redis.exceptions import RedisError

from .detection.streaming import WINDOW_KEYS, window_address
from .geo.cache import CACHE_PREFIX
from .redis_client import get_redis

# Up to this many addresses, Redis is asked for each one's keys by pattern.
FEW_ADDRESSES = 10
CHUNK = 1000


def delete_naming(addresses: list[str]) -> int:
    """Detection windows and cached geolocation answers name the address in their keys. A
    network's many addresses are looked for in one pass over those keys, not a SCAN of the
    whole keyspace per pattern and address."""
    wanted = set(addresses)
    try:
        client = get_redis()
        keys: list[str] = []
        if len(wanted) <= FEW_ADDRESSES:
            for ip in wanted:
                for pattern in (f"{WINDOW_KEYS}:{ip}:*", f"{WINDOW_KEYS}:{ip}|*"):
                    windows = client.scan_iter(pattern, count=1000)
                    keys += (key for key in windows if window_address(_text(key)) == ip)
                answers = client.scan_iter(f"*{CACHE_PREFIX}{ip}", count=1000)
                keys += (key for key in answers if _cached_address(_text(key)) == ip)
        else:
            windows = client.scan_iter(WINDOW_KEYS, count=1000)
            keys += (key for key in windows if window_address(_text(key)) in wanted)
            answers = client.scan_iter(f"*{CACHE_PREFIX}*", count=1000)
            keys += (key for key in answers if _cached_address(_text(key)) in wanted)
        deleted = 0
        for start in range(0, len(keys), CHUNK):
            deleted += client.delete(*keys[start : start + CHUNK])
        return deleted
    except RedisError:
        return 0


def _text(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _cached_address(key: str) -> str:
    # Django's cache key is <KEY_PREFIX>:<version>:geo:<address>.
    return key.partition(f":{CACHE_PREFIX}")[2]
