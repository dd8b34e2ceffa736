"""The hot-path end of request logging: an in-process buffer flushed in batches.

A request only appends a record to a list. A background thread flushes the list at most every
SECURITY_LOG_FLUSH_INTERVAL seconds (sooner when SECURITY_LOG_FLUSH_SIZE records wait) to a
Redis stream in one pipelined round trip, the way nginx's `access_log buffer= flush=` does.
If Redis is down the batch is written to the database directly. If that fails too, the batch
is held, encoded once, and retried with backoff, so a long double outage costs the requests
neither memory nor CPU beyond packing each record once. What is held is bounded; what the
bound drops is counted in the log. At exit (and so on SIGTERM, SIGINT, SIGQUIT and the SIGABRT
of gunicorn's worker timeout, which all end in sys.exit) whatever waits is flushed; a SIGKILL
loses at most one flush interval of records.
"""

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque

from django import db
from django.db import DatabaseError
from redis.exceptions import RedisError

from .. import metrics
from ..conf import conf
from . import records, stream
from .store import store_records

logger = logging.getLogger(__name__)

# Retries while nothing takes the records: soon, then every 2 s at most, so that records reach
# a store within seconds of it coming back (a 30 s cap once kept them 47 s after a heal). An
# attempt costs the flush thread a failed connection to each store, never a request.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 2.0


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
        self._records: list[records.RecordValues] = []
        # Batches nothing would take yet: (encoded records, how many), oldest first.
        self._held: deque[tuple[bytes, int]] = deque()
        self._held_count = 0
        self._retry_at = 0.0
        self._retry_delay = FIRST_RETRY_SECONDS
        self._thread: threading.Thread | None = None
        self._redis_down = False
        self._replication_state = (True, False)  # (acknowledged, no replica connected)
        self._dropped = 0
        # Read from settings by the flush thread, not on every append.
        self._flush_size = conf.LOG_FLUSH_SIZE

    def append(self, record: records.RecordValues) -> None:
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
        return len(self._records) + self._held_count

    def clear(self) -> None:
        with self._flush_lock, self._lock:  # the order flush() takes them in
            self._records.clear()
            self._held.clear()
            self._held_count = 0
            self._retry_at = 0.0

    def _run(self) -> None:
        while True:
            self._wake.wait(conf.LOG_FLUSH_INTERVAL)
            self._wake.clear()
            self._flush_size = conf.LOG_FLUSH_SIZE
            try:
                self.flush(force=False)
            except Exception:  # the flush thread must survive anything to keep logging
                logger.exception("request log flush failed; records kept for the next attempt")
            metrics.LOG_BUFFER.set(self.pending())

    def flush(self, force: bool = True) -> None:
        """Send what waits. force=False (the flush thread) respects the retry backoff."""
        with self._flush_lock:
            with self._lock:
                batch, self._records = self._records, []
            metrics.count_outcomes(batch)
            size = self._flush_size
            for start in range(0, len(batch), size):
                chunk = batch[start : start + size]
                self._held.append((records.encode_batch(chunk), len(chunk)))
                self._held_count += len(chunk)
            if not self._held:
                return
            if not force and time.monotonic() < self._retry_at:
                self._trim()
                return
            if self._deliver(list(self._held)):
                self._held.clear()
                self._held_count = 0
                self._retry_delay = FIRST_RETRY_SECONDS
                self._retry_at = 0.0
            else:
                metrics.FLUSH_FAILURES.inc()
                self._retry_at = time.monotonic() + self._retry_delay
                self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_SECONDS)
                self._trim()

    def _deliver(self, held: list[tuple[bytes, int]]) -> bool:
        payloads = [payload for payload, _count in held]
        try:
            published = stream.publish(payloads)
        except RedisError as error:
            return self._write_direct(payloads, error)
        if self._redis_down:
            self._redis_down = False
            logger.warning("Redis is back: request logs go through the stream again")
        if published.drain_wanted:
            self._request_drain()
        self._note_replication(published)
        # Sent again, the records are stored once all the same (the drain is idempotent).
        return published.replicated

    def _note_replication(self, published: stream.Published) -> None:
        """Say once when replicas stop acknowledging (or none is connected), once when back."""
        state = (published.replicated, published.replicas == 0)
        if state == self._replication_state:
            return
        self._replication_state = state
        if not published.replicated:
            logger.warning(
                "no Redis replica acknowledged the request logs within %.2fs: kept and sent "
                "again until one does",
                conf.LOG_REPLICA_WAIT,
            )
        elif published.replicas == 0:
            logger.warning("no Redis replica is connected: request logs are on the primary only")
        elif published.replicas is not None:
            logger.warning("a Redis replica acknowledges the request logs again")

    def _request_drain(self) -> None:
        try:
            stream.request_drain()
        except RedisError:
            logger.warning("could not queue a log drain; the next flush asks again")
            # If this fails too, the marker expires by itself within seconds.
            with contextlib.suppress(RedisError):
                stream.forget_pending_drain()

    def _write_direct(self, payloads: list[bytes], error: Exception) -> bool:
        if not self._redis_down:
            self._redis_down = True
            logger.warning(
                "Redis unreachable (%s): writing request logs straight to the database", error
            )
        batch = [record for payload in payloads for record in records.decode_batch(payload)]
        try:
            store_records(batch, use_network=False)
        except DatabaseError as db_error:
            logger.error(
                "database unreachable too (%s): %d log records held for the next attempt",
                db_error,
                len(batch),
            )
            return False
        finally:
            # Outside any request cycle nothing else closes this thread's connection.
            db.connection.close()
        return True

    def _trim(self) -> None:
        overflow = self._held_count - conf.LOG_BUFFER_LIMIT
        dropped = 0
        while overflow > 0 and self._held:
            _payload, count = self._held.popleft()
            self._held_count -= count
            overflow -= count
            dropped += count
        if dropped:
            self._dropped += dropped
            logger.error(
                "request log buffer full: dropped %d oldest records (%d in all)",
                dropped,
                self._dropped,
            )


log_buffer = LogBuffer()
