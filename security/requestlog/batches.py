"""A drain's batches when the database refuses them: set aside and tried again while the drain
goes on with new entries, or handed back at once when this worker cannot reach the database
(drain.py is the flow; consumers.py says who takes handed-back entries)."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django import db
from django.db import DatabaseError
from redis import Redis

from . import consumers

logger = logging.getLogger(__name__)

# A batch the database refused is tried again this soon, then at most this far apart.
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 1.0
# SQLSTATE classes of a connection that is gone: 08 connection exception, 57P0x the server
# shutting the session down (an administrator, a crash, pg_terminate_backend).
LOST_CONNECTION_CLASSES = ("08", "57P01", "57P02", "57P03")


class DatabaseUnreachable(Exception):
    """This worker lost the database: its batch went back for the others, its drain ends."""


def connection_lost(error: DatabaseError) -> bool:
    """The database did not answer (rather than answering with an error, as a lock or statement
    time-out does): a cut, a lost host, a server that went away. SQLite always answers."""
    if db.connection.vendor != "postgresql":
        return False
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(LOST_CONNECTION_CLASSES)


@dataclass
class Deferred:
    """A batch the database refused for now, and when to try it again."""

    entries: list
    due: float
    delay: float = FIRST_RETRY_SECONDS


class Batches:
    """The batches of one drain: stored at once, or set aside and tried again while the drain
    goes on with new entries (one batch locked by a cut-off drain must not stop the others)."""

    def __init__(self, client: Redis, process: Callable[[Redis, list], int]) -> None:
        self.client = client
        self.process = process  # stores a batch and acknowledges it (drain._process)
        self.deferred: list[Deferred] = []

    def store(self, entries: list, delay: float = FIRST_RETRY_SECONDS) -> int:
        """Store a batch, or set it aside when the database refuses it (a lock held by a
        cut-off drain, a statement time-out). When this worker cannot reach the database at
        all, hand the batch (and those set aside) back at once: another drain takes them
        within a second. A failed drain used to leave its entries pending until another drain
        claimed them SECURITY_LOG_CLAIM_IDLE_SECONDS later: a minute after a short cut."""
        try:
            return self.process(self.client, entries)
        except DatabaseError as error:
            # Broken or not (a lock time-out leaves it usable), a fresh connection costs little.
            db.connection.close()
            if connection_lost(error):
                self.hand_back([entries], error)
                raise DatabaseUnreachable from error
            if delay == FIRST_RETRY_SECONDS:
                logger.warning("log entries not stored (%s); trying again", error)
            self.deferred.append(Deferred(entries, time.monotonic() + delay, delay))
            return 0

    def retry_due(self) -> int:
        """Try the longest-waiting batch that is due: one per turn, as a refused attempt can
        take the lock time-out (2 s) and new entries wait meanwhile."""
        now = time.monotonic()
        due = [item for item in self.deferred if item.due <= now]
        if not due:
            return 0
        item = min(due, key=lambda deferred: deferred.due)
        self.deferred.remove(item)
        return self.store(item.entries, min(item.delay * 2, MAX_RETRY_SECONDS))

    def hand_back(self, batches: list[list], error: object = "time is up") -> None:
        batches = batches + [item.entries for item in self.deferred]
        self.deferred.clear()
        ids = [entry_id for entries in batches for entry_id, _fields in entries]
        if ids:
            consumers.hand_back(self.client, ids)
            logger.warning("%d log entries not stored (%s); handed back", len(ids), error)
