"""The worker end of request logging: Redis stream -> RequestLog rows.

At least once, and idempotent: entries are acknowledged only after the rows are committed,
and a redelivered entry is ignored by the unique record_id. Several drains may run at once;
the consumer group hands each entry to one of them, and entries left unacknowledged by a
drain that died are claimed back after SECURITY_LOG_CLAIM_IDLE_SECONDS.
"""

import logging
import os
import socket
import threading
import time

from django.db import transaction
from redis import Redis
from redis.exceptions import ResponseError

from . import records, rollups
from .conf import conf
from .models import RequestLog
from .redis_client import get_redis

logger = logging.getLogger(__name__)

DRAIN_GROUP = "drain"
DEAD_LETTER_SUFFIX = ":dead"
# Each stream entry is one flushed batch of up to SECURITY_LOG_FLUSH_SIZE records.
ENTRIES_PER_READ = 10


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"


def ensure_group(client: Redis) -> None:
    try:
        client.xgroup_create(conf.LOG_STREAM, DRAIN_GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def geolocate_records(batch: list[records.Record], use_network: bool) -> dict[str, dict]:
    from .geo import lookup_many

    ips = {record.ip for record in batch if record.ip}
    return {ip: result.as_fields() for ip, result in lookup_many(ips, use_network).items()}


def store_records(batch: list[records.Record], use_network: bool = True) -> int:
    """Insert the records not stored yet, and count only those into the rollups."""
    geo = geolocate_records(batch, use_network)
    rows = {}
    for record in batch:
        row = records.to_model(record, geo.get(record.ip or ""))
        rows[row.record_id] = row
    with transaction.atomic():
        ids = list(rows)
        for start in range(0, len(ids), 500):
            stored = RequestLog.objects.filter(record_id__in=ids[start : start + 500])
            for record_id in stored.values_list("record_id", flat=True):
                del rows[record_id]
        new = list(rows.values())
        RequestLog.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
        rollups.add(rollups.count_rows(new))
    return len(new)


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
            pipe.xadd(conf.LOG_STREAM + DEAD_LETTER_SUFFIX, fields)
    pipe.execute()
    logger.error("moved %d malformed log entries to %s", len(bad), conf.LOG_STREAM + ":dead")


def _process(client: Redis, entries: list) -> int:
    ids, batch, bad = _parse(entries)
    if bad:
        _dead_letter(client, entries, bad)
    if batch:
        store_records(batch)
    done = ids + bad
    if done:
        pipe = client.pipeline(transaction=False)
        pipe.xack(conf.LOG_STREAM, DRAIN_GROUP, *done)
        pipe.xdel(conf.LOG_STREAM, *done)
        pipe.execute()
    return len(batch)


def drain(time_budget: float = 20.0) -> int:
    """Move waiting records into the database until the stream is empty or time runs out."""
    from .logsink import DRAIN_PENDING_KEY

    client = get_redis()
    client.delete(DRAIN_PENDING_KEY)
    ensure_group(client)
    consumer = consumer_name()
    stored = 0
    _next, stale, _deleted = client.xautoclaim(
        conf.LOG_STREAM,
        DRAIN_GROUP,
        consumer,
        min_idle_time=int(conf.LOG_CLAIM_IDLE_SECONDS * 1000),
        count=ENTRIES_PER_READ,
    )
    if stale:
        stored += _process(client, stale)
    deadline = time.monotonic() + time_budget
    while time.monotonic() < deadline:
        response = client.xreadgroup(
            DRAIN_GROUP, consumer, {conf.LOG_STREAM: ">"}, count=ENTRIES_PER_READ
        )
        if not response:
            break
        stored += _process(client, response[0][1])
    # Our own pending entries are done; leave no idle consumer names behind.
    client.xgroup_delconsumer(conf.LOG_STREAM, DRAIN_GROUP, consumer)
    return stored
