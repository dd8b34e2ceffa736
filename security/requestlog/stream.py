"""The web processes' side of the Redis stream: add flushed batches, ask for a drain."""

import dramatiq
from dramatiq import Message

from ..redis_client import get_redis
from . import keys


def publish(payloads: list[bytes]) -> bool:
    """XADD encoded batches in one round trip; True when a drain should be asked for.

    One stream entry carries up to SECURITY_LOG_FLUSH_SIZE records: one Redis command per
    flush rather than one per request keeps the flush cheap for the web process and Redis.
    """
    pipe = get_redis().pipeline(transaction=False)
    for payload in payloads:
        pipe.xadd(keys.stream(), {"b": payload})
    # The drain deletes this key when it starts, so at most one wake-up is queued at a time
    # while it runs, and a stopped worker collects one message per expiry, not per batch.
    pipe.set(keys.DRAIN_PENDING_KEY, 1, nx=True, ex=30)
    return bool(pipe.execute()[-1])


def request_drain() -> None:
    """Queue the drain actor by name: the web process never imports the worker's tasks."""
    message = Message(
        queue_name=keys.DRAIN_QUEUE,
        actor_name=keys.DRAIN_ACTOR,
        args=(),
        kwargs={},
        options={},
    )
    broker = dramatiq.get_broker()
    broker.declare_queue(keys.DRAIN_QUEUE)  # a set lookup once declared
    broker.enqueue(message)


def forget_pending_drain() -> None:
    """The marker stays only while a drain is queued: if queueing failed, the next flush retries."""
    get_redis().delete(keys.DRAIN_PENDING_KEY)
