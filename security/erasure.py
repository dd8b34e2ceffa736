"""Erasing an address from the copies that live outside the database tables (`forget_ip`).

A forgotten address may still be on its way: in log records a stopped worker has not drained
yet, in the stream's dead letters, in alert messages queued for the webhook (or being retried
after a failure), in a web process's buffer that flushes a second later. So forgetting
- leaves a tombstone (the target and an expiry, in Redis for TOMBSTONE_SECONDS): the drain
  drops matching records and alert delivery drops matching messages while it stands;
- rewrites the stream entries that hold matching records, and deletes matching dead letters
  and queued alert messages.
The tombstone names the forgotten target for a day, in Redis only: the price of nothing coming
back. With Redis away nothing of this can be done, and forget_ip says so.
"""

import logging
import re
import time
from collections.abc import Iterable
from typing import cast

import dramatiq
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from redis import Redis

from .addresses import parse_address
from .matcher import NetworkSet
from .redis_client import get_redis
from .requestlog import keys, records

logger = logging.getLogger(__name__)

TOMBSTONES_KEY = "security:erased"
TOMBSTONE_SECONDS = 24 * 3600
PAGE = 200
ADDRESS_TEXT = re.compile(rb"[0-9A-Fa-f:.]{3,45}")


def remember(target: str) -> None:
    now = time.time()
    pipe = get_redis().pipeline()
    pipe.zadd(TOMBSTONES_KEY, {target: now + TOMBSTONE_SECONDS})
    pipe.expire(TOMBSTONES_KEY, TOMBSTONE_SECONDS)
    pipe.execute()


def erased_networks(client: Redis | None = None) -> NetworkSet | None:
    """What was forgotten lately, or None (one Redis round trip; raises RedisError)."""
    client = client or get_redis()
    pipe = client.pipeline(transaction=False)
    pipe.zremrangebyscore(TOMBSTONES_KEY, "-inf", time.time())
    pipe.zrange(TOMBSTONES_KEY, 0, -1)
    members = pipe.execute()[1]
    return NetworkSet(member.decode() for member in members) if members else None


def names_erased(values: Iterable[object], erased: NetworkSet) -> bool:
    return any(isinstance(value, str) and value in erased for value in values)


def event_addresses(event: object) -> list[object]:
    if not isinstance(event, dict):
        return []
    targets = event.get("targets")
    return [event.get("ip_address"), *(targets if isinstance(targets, list) else [])]


def purge_stream(erased: NetworkSet, stream: str | None = None) -> int:
    """Rewrite the entries still to be drained without the erased records; return how many
    records went. An entry a drain holds right now is deleted under it (the drain acknowledges
    a deleted entry as done) and its records come back in the new entry, less the erased."""
    client = get_redis()
    stream = stream or keys.stream()
    removed = 0
    start: bytes | str = "-"
    while True:
        entries = cast(
            list[records.StreamEntry], client.xrange(stream, min=start, max="+", count=PAGE)
        )
        if start != "-":
            entries = entries[1:]  # the page boundary was read last time
        if not entries:
            return removed
        pipe = client.pipeline(transaction=False)
        for entry_id, fields in entries:
            try:
                batch = records.decode_batch(fields[b"b"])
            except (KeyError, ValueError):
                continue  # malformed: the drain moves it to the dead letters
            kept = [record for record in batch if not (record.ip and record.ip in erased)]
            if len(kept) < len(batch):
                removed += len(batch) - len(kept)
                if kept:
                    pipe.xadd(stream, {"b": records.encode_batch(kept)})
                pipe.xdel(stream, entry_id)
        pipe.execute()
        start = entries[-1][0]


def purge_dead_letters(erased: NetworkSet) -> int:
    """Delete dead letters naming an erased address (decoded where they decode; otherwise
    every address-like text in them is looked at)."""
    client = get_redis()
    doomed = []
    for entry_id, fields in cast(list[records.StreamEntry], client.xrange(keys.dead_letters())):
        payload = b"".join(fields.values())
        try:
            batch = records.decode_batch(fields[b"b"])
            named = [record.ip for record in batch]
        except (KeyError, ValueError):
            named = [parse_address(text.decode()) for text in ADDRESS_TEXT.findall(payload)]
        if names_erased(named, erased):
            doomed.append(entry_id)
    if doomed:
        client.xdel(keys.dead_letters(), *doomed)
    return len(doomed)


def purge_queued_alerts(erased: NetworkSet, queue_name: str) -> int:
    """Delete queued (and delayed, and dead-lettered) webhook messages naming an erased
    address. A message a worker already holds in memory is dropped at delivery instead."""
    broker = dramatiq.get_broker()
    if isinstance(broker, RedisBroker):
        return _purge_redis_queues(broker, erased, queue_name)
    if isinstance(broker, StubBroker):
        return _purge_stub_queues(broker, erased, queue_name)
    logger.warning("forget_ip: queued alerts on %s are not searched", type(broker).__name__)
    return 0


def _names_erased_message(data: bytes, erased: NetworkSet) -> bool:
    try:
        message = Message.decode(data)
    except Exception:  # dramatiq raises DecodeError or whatever its encoder does
        return False
    return any(names_erased(event_addresses(arg), erased) for arg in message.args)


def _purge_redis_queues(broker: RedisBroker, erased: NetworkSet, queue_name: str) -> int:
    client = broker.client
    removed = 0
    for name in (queue_name, f"{queue_name}.DQ", f"{queue_name}.XQ"):
        ids_key = f"{broker.namespace}:{name}"
        messages_key = f"{ids_key}.msgs"
        for message_id, data in client.hscan_iter(messages_key):
            if _names_erased_message(data, erased):
                pipe = client.pipeline()
                pipe.hdel(messages_key, message_id)
                if name.endswith(".XQ"):
                    pipe.zrem(ids_key, message_id)
                else:
                    pipe.lrem(ids_key, 0, message_id)
                pipe.execute()
                removed += 1
    return removed


def _purge_stub_queues(broker: StubBroker, erased: NetworkSet, queue_name: str) -> int:
    removed = 0
    for name in (queue_name, f"{queue_name}.DQ", f"{queue_name}.XQ"):
        queue = broker.queues.get(name)
        if queue is None:
            continue
        waiting = []
        while not queue.empty():
            waiting.append(queue.get_nowait())
            queue.task_done()  # put back below (or dropped): join() must not wait for it
        for data in waiting:
            if _names_erased_message(data, erased):
                removed += 1
            else:
                queue.put_nowait(data)
    return removed
