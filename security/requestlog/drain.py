"""The worker end of request logging: Redis stream -> RequestLog rows.

At least once, and idempotent: entries are acknowledged only after the rows are committed,
and a redelivered entry is ignored by the unique record_id. Several drains may run at once;
the consumer group hands each entry to one of them. Entries left unacknowledged by a drain
that failed or died stay pending under its consumer name and are claimed back, all of them,
by the first drain that runs after SECURITY_LOG_CLAIM_IDLE_SECONDS. A consumer is deleted only
when it holds nothing: XGROUP DELCONSUMER drops pending entries without acknowledging them,
and nothing would ever read them again.
"""

import logging
import os
import socket
import threading
import time
from collections import Counter

from django.db import DatabaseError
from redis import Redis
from redis.exceptions import RedisError, ResponseError

from .. import metrics
from ..conf import conf
from ..redis_client import get_redis
from . import keys, records
from .store import store_new_rows

logger = logging.getLogger(__name__)

# Each stream entry is one flushed batch of up to SECURITY_LOG_FLUSH_SIZE records.
ENTRIES_PER_READ = 10
# Consumers that hold nothing and were idle this many claim periods are forgotten.
FORGET_IDLE_CONSUMER_PERIODS = 10


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"


def ensure_group(client: Redis) -> None:
    try:
        client.xgroup_create(keys.stream(), keys.DRAIN_GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _parse(entries: list) -> tuple[list[bytes], list[records.Record], list[bytes]]:
    ids, batch, bad = [], [], []
    for entry_id, fields in entries:
        if not fields:  # deleted while pending
            ids.append(entry_id)
            continue
        try:
            batch.extend(records.decode_batch(fields[b"b"]))
            ids.append(entry_id)
        except (KeyError, ValueError):
            bad.append(entry_id)
    return ids, batch, bad


def _dead_letter(client: Redis, entries: list, bad: list[bytes]) -> None:
    bad_set = set(bad)
    pipe = client.pipeline(transaction=False)
    for entry_id, fields in entries:
        if entry_id in bad_set:
            pipe.xadd(keys.dead_letters(), fields)
    pipe.execute()
    logger.error("moved %d malformed log entries to %s", len(bad), keys.dead_letters())


def detect(rows: list) -> None:
    """Streaming detection on what was just stored. The rows are committed whatever happens
    here: a failure is logged, and the hourly scan catches up."""
    if not rows or not conf.DETECT_STREAMING:
        return
    from ..detection import streaming  # detection builds on request logging, not the reverse

    try:
        streaming.detect(rows)
    except (DatabaseError, RedisError) as error:
        logger.error("streaming detection skipped a batch (%s); the hourly scan catches up", error)


def site_counts(new_rows: list) -> Counter[str]:
    counts: Counter[str] = Counter(f"geo:{row.geo_source or 'none'}" for row in new_rows)
    counts["drained"] = len(new_rows)
    return counts


def _process(client: Redis, entries: list) -> int:
    ids, batch, bad = _parse(entries)
    if bad:
        _dead_letter(client, entries, bad)
    try:
        new_rows = store_new_rows(batch) if batch else []
    except Exception:
        metrics.add_to_site_counters({"drain_errors": 1})
        raise
    detect(new_rows)
    done = ids + bad
    if done:
        pipe = client.pipeline(transaction=False)
        pipe.xack(keys.stream(), keys.DRAIN_GROUP, *done)
        pipe.xdel(keys.stream(), *done)
        for field, amount in site_counts(new_rows).items():
            pipe.hincrby(metrics.COUNTERS_KEY, field, amount)
        pipe.execute()
    return len(batch)


def claim_stale(client: Redis, consumer: str) -> int:
    """Take over and store every entry another drain left pending for too long."""
    stored = 0
    cursor = "0-0"
    while True:
        cursor, stale, _deleted = client.xautoclaim(
            keys.stream(),
            keys.DRAIN_GROUP,
            consumer,
            min_idle_time=int(conf.LOG_CLAIM_IDLE_SECONDS * 1000),
            start_id=cursor,
            count=ENTRIES_PER_READ,
        )
        if stale:
            stored += _process(client, stale)
        if cursor in (b"0-0", "0-0"):
            return stored


def forget_idle_consumers(client: Redis, current: str) -> None:
    limit_ms = conf.LOG_CLAIM_IDLE_SECONDS * 1000 * FORGET_IDLE_CONSUMER_PERIODS
    for info in client.xinfo_consumers(keys.stream(), keys.DRAIN_GROUP):
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name != current and info["pending"] == 0 and info["idle"] > limit_ms:
            client.xgroup_delconsumer(keys.stream(), keys.DRAIN_GROUP, name)


def release_consumer(client: Redis, consumer: str) -> None:
    """Delete our consumer name only when it holds no pending entry (see the module's note)."""
    mine = client.xpending_range(
        keys.stream(), keys.DRAIN_GROUP, min="-", max="+", count=1, consumername=consumer
    )
    if not mine:
        client.xgroup_delconsumer(keys.stream(), keys.DRAIN_GROUP, consumer)


def drain(time_budget: float = 20.0) -> int:
    """Move waiting records into the database until the stream is empty or time runs out."""
    client = get_redis()
    client.delete(keys.DRAIN_PENDING_KEY)
    ensure_group(client)
    consumer = consumer_name()
    try:
        stored = claim_stale(client, consumer)
    except DatabaseError as error:
        # Typically a lock still held by the cut-off drain that left these entries: they stay
        # pending (now ours) for the next drain, and the new entries must not wait for them.
        logger.warning("stale log entries not stored yet (%s); the next drain retries", error)
        stored = 0
    deadline = time.monotonic() + time_budget
    while time.monotonic() < deadline:
        # Waiting a moment for the next flush keeps a drain running while traffic lasts, so one
        # worker that got the wake-up keeps up even when another sits on its messages (stuck
        # on a database it cannot reach).
        response = client.xreadgroup(
            keys.DRAIN_GROUP,
            consumer,
            {keys.stream(): ">"},
            count=ENTRIES_PER_READ,
            block=int(conf.LOG_DRAIN_LINGER * 1000) or None,
        )
        if not response:
            break
        stored += _process(client, response[0][1])
    release_consumer(client, consumer)
    forget_idle_consumers(client, consumer)
    return stored
