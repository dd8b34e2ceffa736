"""The worker end of request logging: Redis stream -> RequestLog rows.

At least once, and idempotent: entries are acknowledged only after the rows are committed,
and a redelivered entry is ignored by the unique record_id. Several drains may run at once;
the consumer group hands each entry to one of them. A batch the database refuses (an outage,
a cut connection, a lock time-out) is tried again by the same drain as soon as the database
answers, on a fresh connection, after ending the session its lost transaction left behind;
a drain that runs out of time hands the batch back for the next one. What a gone worker
process held is taken over by the next drain (consumers.py). A consumer name is deleted only
when it holds nothing: XGROUP DELCONSUMER drops pending entries without acknowledging them,
and nothing would ever read them again.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

from django import db
from django.db import DatabaseError
from redis import Redis
from redis.exceptions import ResponseError

from .. import metrics
from ..conf import conf
from ..redis_client import get_redis
from . import consumers, keys, records
from .batches import Batches, DatabaseUnreachable
from .records import StoredRow
from .store import store_new_rows

logger = logging.getLogger(__name__)

# Each stream entry is one flushed batch of up to SECURITY_LOG_FLUSH_SIZE records.
ENTRIES_PER_READ = 10
# What the wiring does with each batch of newly stored rows (tasks.py: streaming detection).
AfterStore = Callable[[list[StoredRow]], None]
# How often a running drain looks for entries handed back or left by gone workers.
ORPHAN_CHECK_SECONDS = 1.0
# After losing the database, this process's drains make sure it answers before taking entries.
PROBE_AFTER_LOSS_SECONDS = 30.0
# The longest one blocking read waits for a flush: below the Redis socket time-out (0.5 s). A
# drain lingers (SECURITY_LOG_DRAIN_LINGER) over as many reads as that takes.
READ_BLOCK_SECONDS = 0.4


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


def site_counts(new_rows: list) -> Counter[str]:
    counts: Counter[str] = Counter(f"geo:{row.geo_source or 'none'}" for row in new_rows)
    counts["drained"] = len(new_rows)
    return counts


def _process(client: Redis, entries: list, after_store: AfterStore | None = None) -> int:
    ids, batch, bad = _parse(entries)
    if bad:
        _dead_letter(client, entries, bad)
    try:
        new_rows = store_new_rows(batch) if batch else []
    except Exception:
        metrics.add_to_site_counters({"drain_errors": 1})
        raise
    if new_rows and after_store is not None:
        after_store(records.whole_rows(batch, new_rows))
    done = ids + bad
    if done:
        pipe = client.pipeline(transaction=False)
        pipe.xack(keys.stream(), keys.DRAIN_GROUP, *done)
        pipe.xdel(keys.stream(), *done)
        for field, amount in site_counts(new_rows).items():
            pipe.hincrby(metrics.COUNTERS_KEY, field, amount)
        pipe.execute()
    return len(batch)


def claim_stale(client: Redis, consumer: str, batches: Batches, stuck: bool = True) -> int:
    """Take over and store what gone drains left and what was handed back, and (stuck=True)
    what a live drain has held for SECURITY_LOG_CLAIM_IDLE_SECONDS anyway."""
    stored = 0
    for entries in consumers.orphaned(client, consumer, ENTRIES_PER_READ):
        stored += batches.store(entries)
    cursor = "0-0"
    while stuck:
        cursor, stale, _deleted = client.xautoclaim(
            keys.stream(),
            keys.DRAIN_GROUP,
            consumer,
            min_idle_time=int(conf.LOG_CLAIM_IDLE_SECONDS * 1000),
            start_id=cursor,
            count=ENTRIES_PER_READ,
        )
        if stale:
            stored += batches.store(stale)
        if cursor in (b"0-0", "0-0"):
            break
    return stored


_lost_database_at = 0.0  # when a drain of this process last found the database unreachable


def database_answers() -> bool:
    """False while this process still cannot reach the database it lost moments ago. A drain
    then takes no entries: holding a batch it cannot store for the seconds a connection attempt
    lasts, again and again, is what stalled the other workers."""
    global _lost_database_at
    if time.monotonic() - _lost_database_at > PROBE_AFTER_LOSS_SECONDS:
        return True
    try:
        with db.connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        db.connection.close()
        _lost_database_at = time.monotonic()
        return False
    _lost_database_at = 0.0
    return True


def drain(time_budget: float = 20.0, after_store: AfterStore | None = None) -> int:
    """Move waiting records into the database until the stream is empty or time runs out;
    after_store gets each batch of rows new to the database, once they are committed (the
    actor that wires the drain passes streaming detection: detection builds on request
    logging, not the reverse)."""
    global _lost_database_at
    client = get_redis()
    client.delete(keys.DRAIN_PENDING_KEY)
    if not database_answers():
        return 0  # the wake-up marker is gone: the next flush wakes a drain elsewhere
    ensure_group(client)
    consumers.keep_alive(client)
    consumer = consumers.consumer_name()
    deadline = time.monotonic() + time_budget
    consumers.begin(consumer)
    batches = Batches(client, lambda redis, entries: _process(redis, entries, after_store))
    stored = 0
    # Waiting for the next flush keeps a drain running while traffic lasts, so one worker that
    # got the wake-up keeps up even when another sits on its messages (stuck on a database it
    # cannot reach). The wait is also the pause between retries.
    linger = conf.LOG_DRAIN_LINGER
    block_ms = int(min(linger, READ_BLOCK_SECONDS) * 1000) or None
    try:
        stored = claim_stale(client, consumer, batches)
        next_claim = time.monotonic() + ORPHAN_CHECK_SECONDS
        last_entry = time.monotonic()
        while time.monotonic() < deadline:
            response = cast(
                list[tuple[bytes, list[records.StreamEntry]]],
                client.xreadgroup(
                    keys.DRAIN_GROUP,
                    consumer,
                    {keys.stream(): ">"},
                    count=ENTRIES_PER_READ,
                    block=block_ms,
                ),
            )
            if response:
                last_entry = time.monotonic()
                stored += batches.store(response[0][1])
            stored += batches.retry_due()
            if time.monotonic() >= next_claim:
                # A long drain also takes what others handed back or left behind meanwhile.
                stored += claim_stale(client, consumer, batches, stuck=False)
                next_claim = time.monotonic() + ORPHAN_CHECK_SECONDS
            elif not response and not batches.deferred and time.monotonic() - last_entry >= linger:
                break
        batches.hand_back([])  # what is still refused when time is up goes to the next drain
    except DatabaseUnreachable:
        _lost_database_at = time.monotonic()
        logger.warning("the database is unreachable from here: drain ended, %d stored", stored)
    finally:
        consumers.end(consumer)
    # On a Redis error above the name stays, with what it holds; this process's next drain
    # takes that over (consumers.orphaned) and deletes the name.
    consumers.delete_if_empty(client, consumer)
    return stored
