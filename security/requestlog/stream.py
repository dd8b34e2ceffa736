"""The web processes' side of the Redis stream: add flushed batches, ask for a drain."""

from ..queueing import send_by_name
from ..redis_client import get_redis
from . import keys

DRAIN_PENDING_SECONDS = 3


def publish(payloads: list[bytes]) -> bool:
    """XADD encoded batches in one round trip; True when a drain should be asked for.

    One stream entry carries up to SECURITY_LOG_FLUSH_SIZE records: one Redis command per
    flush rather than one per request keeps the flush cheap for the web process and Redis.
    """
    pipe = get_redis().pipeline(transaction=False)
    for payload in payloads:
        pipe.xadd(keys.stream(), {"b": payload})
    # The drain deletes this key when it starts, so one wake-up waits in the queue at a time
    # and a stopped worker collects one message per expiry, not one per batch. The expiry is
    # short: a wake-up taken by a worker that is stuck (cut from the database) or lost must not
    # keep the others from being woken for long.
    pipe.set(keys.DRAIN_PENDING_KEY, 1, nx=True, ex=DRAIN_PENDING_SECONDS)
    return bool(pipe.execute()[-1])


def request_drain() -> None:
    send_by_name(keys.DRAIN_ACTOR, keys.DRAIN_QUEUE)


def forget_pending_drain() -> None:
    """The marker stays only while a drain is queued: if queueing failed, the next flush retries."""
    get_redis().delete(keys.DRAIN_PENDING_KEY)
