"""The hot-path end of request logging: an in-process buffer flushed in batches.

A request only appends a dict to a list. A background thread flushes the list at most every
SECURITY_LOG_FLUSH_INTERVAL seconds (sooner when SECURITY_LOG_FLUSH_SIZE records wait) to a
Redis stream in one pipelined round trip, the way nginx's `access_log buffer= flush=` does.
If Redis is down the batch is written to the database directly; if that fails too, the batch
goes back into the buffer for the next attempt. The buffer is bounded so a long double outage
cannot exhaust memory; what it has to drop is counted in the log.
"""

import atexit
import logging
import os
import threading

from django import db
from django.db import DatabaseError
from redis.exceptions import RedisError

from . import records
from .conf import conf
from .redis_client import get_redis

logger = logging.getLogger(__name__)

DRAIN_PENDING_KEY = "security:requestlog:drain-pending"


def publish(batch: list[records.Record]) -> bool:
    """XADD the batch in one round trip; True when a drain should be asked for.

    One stream entry carries up to SECURITY_LOG_FLUSH_SIZE records: one Redis command per
    flush rather than one per request keeps the flush cheap for the web process and Redis.
    """
    pipe = get_redis().pipeline(transaction=False)
    size = conf.LOG_FLUSH_SIZE
    for start in range(0, len(batch), size):
        pipe.xadd(conf.LOG_STREAM, {"b": records.encode_batch(batch[start : start + size])})
    # The drain deletes this key when it starts, so at most one wake-up is queued at a time
    # while it runs, and a stopped worker collects one message per expiry, not per batch.
    pipe.set(DRAIN_PENDING_KEY, 1, nx=True, ex=30)
    return bool(pipe.execute()[-1])


def request_drain() -> None:
    from .actors import drain_request_logs

    drain_request_logs.send()


class LogBuffer:
    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        # After a fork the parent's thread is gone and its records are the parent's to flush.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._records: list[records.Record] = []
        self._thread: threading.Thread | None = None
        self._redis_down = False
        self._dropped = 0
        # Read from settings by the flush thread, not on every append.
        self._flush_size = conf.LOG_FLUSH_SIZE

    def append(self, record: records.Record) -> None:
        with self._lock:
            self._records.append(record)
            pending = len(self._records)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="security-log-flush", daemon=True
                )
                self._thread.start()
        if pending >= self._flush_size:
            self._wake.set()

    def pending(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _run(self) -> None:
        while True:
            self._wake.wait(conf.LOG_FLUSH_INTERVAL)
            self._wake.clear()
            self._flush_size = conf.LOG_FLUSH_SIZE
            try:
                self.flush()
            except Exception:  # the flush thread must survive anything to keep logging
                logger.exception("request log flush failed; records kept for the next attempt")

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                batch, self._records = self._records, []
            if not batch:
                return
            try:
                self._deliver(batch)
            except BaseException:
                self._requeue(batch)
                raise

    def _deliver(self, batch: list[records.Record]) -> None:
        try:
            drain_wanted = publish(batch)
        except RedisError as error:
            self._write_direct(batch, error)
            return
        if self._redis_down:
            self._redis_down = False
            logger.warning("Redis is back: request logs go through the stream again")
        if drain_wanted:
            try:
                request_drain()
            except RedisError:
                logger.warning("could not queue a log drain; the periodic drain will pick it up")

    def _write_direct(self, batch: list[records.Record], error: Exception) -> None:
        from .drain import store_records

        if not self._redis_down:
            self._redis_down = True
            logger.warning(
                "Redis unreachable (%s): writing request logs straight to the database", error
            )
        try:
            store_records(batch, use_network=False)
        except DatabaseError as db_error:
            logger.error("database unreachable too (%s): %d log records kept", db_error, len(batch))
            self._requeue(batch)
        finally:
            # Outside any request cycle nothing else closes this thread's connection.
            db.connection.close()

    def _requeue(self, batch: list[records.Record]) -> None:
        with self._lock:
            self._records[:0] = batch
            overflow = len(self._records) - conf.LOG_BUFFER_LIMIT
            if overflow > 0:
                del self._records[:overflow]
                self._dropped += overflow
                logger.error(
                    "request log buffer full: dropped %d oldest records (%d in all)",
                    overflow,
                    self._dropped,
                )


log_buffer = LogBuffer()
