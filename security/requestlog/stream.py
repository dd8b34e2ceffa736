"""The web processes' side of the Redis stream: add flushed batches, ask for a drain."""

from typing import NamedTuple

from ..conf import conf
from ..queueing import send_by_name
from ..redis_client import get_redis
from . import keys

# A wake-up no drain has answered this soon is sent again: it may sit with a worker whose
# threads are stuck on a database it cannot reach (prefetched, or taken by a drain that waits
# for its connection to give up), while the other workers are idle.
DRAIN_PENDING_SECONDS = 1
# Wake-ups that waited longer than this in the queue (every worker away) are dropped unrun: the
# drain that answers the first of them stores everything, and a hundred more would each cost
# a drain's linger.
WAKE_UP_MAX_AGE_MS = 10_000


class Published(NamedTuple):
    drain_wanted: bool
    # False when the replicas waited for did not confirm the batches in time: the primary has
    # them, but a failover now would lose them, so the caller sends them again.
    replicated: bool
    # Replicas connected to the primary (None when none were asked for).
    replicas: int | None = None


def publish(payloads: list[bytes]) -> Published:
    """XADD encoded batches in one round trip, and ask for the replicas' acknowledgement.

    One stream entry carries up to SECURITY_LOG_FLUSH_SIZE records: one Redis command per
    flush rather than one per request keeps the flush cheap for the web process and Redis.
    Redis replicates asynchronously; WAIT (bounded by SECURITY_LOG_REPLICA_WAIT, on the flush
    thread, never a request) tells whether a replica has the batches too. It waits for at most
    as many replicas as are connected (ROLE, in the same round trip): a primary left alone
    after a failover has nobody to wait for, and holding every record back would not help.
    """
    wanted = conf.LOG_REPLICA_ACKS
    pipe = get_redis().pipeline(transaction=False)
    for payload in payloads:
        pipe.xadd(keys.stream(), {"b": payload})
    # The drain deletes this key when it starts, so one wake-up waits in the queue at a time
    # and a stopped worker collects one message per expiry, not one per batch.
    pipe.set(keys.DRAIN_PENDING_KEY, 1, nx=True, ex=DRAIN_PENDING_SECONDS)
    if wanted:
        pipe.execute_command("ROLE")
        pipe.wait(wanted, int(conf.LOG_REPLICA_WAIT * 1000))
        *_added, drain_wanted, role, acknowledged = pipe.execute()
        connected = len(role[2]) if role[0] == b"master" else 0
        return Published(bool(drain_wanted), acknowledged >= min(wanted, connected), connected)
    return Published(bool(pipe.execute()[-1]), True)


def request_drain() -> None:
    send_by_name(keys.DRAIN_ACTOR, keys.DRAIN_QUEUE, max_age_ms=WAKE_UP_MAX_AGE_MS)


def forget_pending_drain() -> None:
    """The marker stays only while a drain is queued: if queueing failed, the next flush retries."""
    get_redis().delete(keys.DRAIN_PENDING_KEY)
