"""Who holds which stream entries: drain consumer names, each worker process's heartbeat, and
taking over what a gone process held.

A drain reads as the consumer <host>-<pid>-<thread>. While a process drains, a thread of its
own renews a short-lived key for <host>-<pid> every second. A drain that starts looks at every
consumer of the group:
- of a process without that key (killed, lost with its host, cut from Redis, stopped): its
  entries are taken over at once, and its name deleted once it holds nothing;
- of its own process but not draining now (a drain that failed and could not hand its entries
  back, Redis being away): the same, since nobody else would take them;
- of a live process: left alone, its drain retries them itself (drain.py), unless they have
  waited SECURITY_LOG_CLAIM_IDLE_SECONDS (a drain stuck without an error), when anyone takes them.
Entries a drain gives up on are handed back to HANDED_BACK, a name no process owns.

A consumer name is deleted only by a script that checks, in the same step, that it holds
nothing: XGROUP DELCONSUMER drops pending entries without acknowledging them.
"""

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator

from redis import Redis
from redis.exceptions import RedisError

from ..conf import conf
from . import keys

logger = logging.getLogger(__name__)

HANDED_BACK = "handed-back"
ALIVE_SECONDS = 5.0  # a process whose heartbeat is this old is taken for gone
RENEW_SECONDS = 1.0
# Two drains that both find a process gone must not both take its entries: the first claim
# resets an entry's idle time, and the second only takes entries idle at least this long.
TAKEOVER_MIN_IDLE_MS = 1000
# Consumers that hold nothing and were idle this many claim periods are forgotten.
FORGET_IDLE_CONSUMER_PERIODS = 10

DELETE_IF_EMPTY = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""

_active: set[str] = set()
_active_lock = threading.Lock()
_heartbeat_pid = 0


def process_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def consumer_name() -> str:
    return f"{process_name()}-{threading.get_ident()}"


def process_of(consumer: str) -> str:
    return consumer.rpartition("-")[0]


def _renew_forever(client: Redis, name: str) -> None:
    while True:
        # Unreachable: others take our entries over meanwhile; we store what we hold anyway.
        with contextlib.suppress(RedisError):
            client.set(keys.alive(name), 1, px=int(ALIVE_SECONDS * 1000))
        time.sleep(RENEW_SECONDS)


def keep_alive(client: Redis) -> None:
    """Start this process's heartbeat (once per process, and again in a forked child)."""
    global _heartbeat_pid
    with _active_lock:
        if _heartbeat_pid == os.getpid():
            return
        _heartbeat_pid = os.getpid()
    name = process_name()
    client.set(keys.alive(name), 1, px=int(ALIVE_SECONDS * 1000))
    threading.Thread(
        target=_renew_forever, args=(client, name), name="security-drain-alive", daemon=True
    ).start()


def begin(consumer: str) -> None:
    with _active_lock:
        _active.add(consumer)


def end(consumer: str) -> None:
    with _active_lock:
        _active.discard(consumer)


def delete_if_empty(client: Redis, consumer: str) -> bool:
    deleted = client.eval(DELETE_IF_EMPTY, 1, keys.stream(), keys.DRAIN_GROUP, consumer)
    return deleted != -1


def hand_back(client: Redis, entry_ids: list) -> None:
    """Give entries to HANDED_BACK, idle as if for ever, so the next drain takes them at once."""
    if entry_ids:
        client.xclaim(
            keys.stream(),
            keys.DRAIN_GROUP,
            HANDED_BACK,
            min_idle_time=0,
            message_ids=entry_ids,
            idle=int(conf.LOG_CLAIM_IDLE_SECONDS * 1000) + 10**9,
            justid=True,
        )


def _decoded(name: object) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)


def _take_over(
    client: Redis, consumer: str, current: str, min_idle_ms: int, count: int
) -> Iterator[list]:
    """Claim a consumer's pending entries for `current`, `count` at a time."""
    while True:
        pending = client.xpending_range(
            keys.stream(),
            keys.DRAIN_GROUP,
            min="-",
            max="+",
            count=count,
            consumername=consumer,
            idle=min_idle_ms or None,
        )
        if not pending:
            return
        claimed = client.xclaim(
            keys.stream(),
            keys.DRAIN_GROUP,
            current,
            min_idle_time=min_idle_ms,
            message_ids=[entry["message_id"] for entry in pending],
        )
        if not claimed:
            return  # another drain took them first
        yield claimed


def orphaned(client: Redis, current: str, count: int) -> Iterator[list]:
    """Take over, batch by batch, what gone processes and this process's failed drains hold;
    forget the names that hold nothing any more."""
    infos = client.xinfo_consumers(keys.stream(), keys.DRAIN_GROUP)
    names = [_decoded(info["name"]) for info in infos]
    own = process_name()
    others = sorted({process_of(name) for name in names} - {own})
    alive = dict(zip(others, client.mget([keys.alive(p) for p in others]), strict=True))
    forget_after_ms = conf.LOG_CLAIM_IDLE_SECONDS * 1000 * FORGET_IDLE_CONSUMER_PERIODS
    for name, info in zip(names, infos, strict=True):
        with _active_lock:  # asked now, not once: a batch taken over may take seconds to store
            if name == current or name in _active:
                continue
        process = process_of(name)
        if process == own:
            gone, min_idle_ms = True, 0  # one of our threads, not draining now
        else:
            gone, min_idle_ms = alive.get(process) is None, TAKEOVER_MIN_IDLE_MS
        if gone and info["pending"]:
            yield from _take_over(client, name, current, min_idle_ms, count)
        if gone or info["idle"] > forget_after_ms:
            delete_if_empty(client, name)
