"""Run the scheduler of the periodic actors: exactly one active per site, a standby waiting.

The active one holds a short lock in Redis and renews it every second; a standby tries to take
it every second. A scheduler stopped by SIGTERM or SIGINT releases the lock, and a standby takes
over within a second; one that crashed (SIGKILL, a lost host) leaves a lock that expires within
LOCK_TTL seconds. A scheduler that cannot renew its lock stops sending before the lock can
expire, and stands by again. What is sent, and that no slot is sent twice or lost across a
takeover, is security/scheduling.py's part.
"""

import contextlib
import importlib
import logging
import signal
import sys
import threading
import time
from typing import Any

from django import db
from django.db import DatabaseError
from django_dramatiq.management.commands.rundramatiq import Command as RunDramatiq
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from security import scheduling
from security.management.base import SecurityCommand
from security.redis_client import get_redis

logger = logging.getLogger("security.scheduler")

LOCK_KEY = "security:scheduler-lock"
LOCK_TTL = 6.0
RENEW_EVERY = 1.0
RETRY_EVERY = 1.0
TICK_EVERY = 1.0
# Stop sending this long before our lock could have expired (clock steps, a slow renewal).
SAFETY_MARGIN = 2.0


class Lease:
    """The scheduler lock and, in a background thread, its renewal."""

    def __init__(self, lock: Lock) -> None:
        self.lock = lock
        self.valid_until = 0.0
        self.lost = threading.Event()

    def acquire(self) -> None:
        announced = False
        while True:
            try:
                if self.lock.acquire(blocking=False):
                    self.valid_until = time.monotonic() + LOCK_TTL - SAFETY_MARGIN
                    self.lost.clear()
                    return
                reason = "another scheduler is running"
            except RedisError as error:
                reason = f"Redis unreachable ({error})"
            if not announced:
                logger.warning("%s: standing by until the scheduler lock is free", reason)
                announced = True
            time.sleep(RETRY_EVERY)

    def keep(self) -> None:
        while not self.lost.is_set():
            time.sleep(RENEW_EVERY)
            started = time.monotonic()
            try:
                self.lock.extend(LOCK_TTL, replace_ttl=True)
                self.valid_until = started + LOCK_TTL - SAFETY_MARGIN
            except LockError:
                logger.critical("another scheduler took over the lock; standing by")
                self.lost.set()
            except RedisError as error:
                logger.warning("could not renew the scheduler lock: %s", error)
                if time.monotonic() > self.valid_until:
                    logger.critical("scheduler lock may have expired; standing by")
                    self.lost.set()

    def held(self) -> bool:
        return not self.lost.is_set() and time.monotonic() < self.valid_until

    def release(self) -> None:
        self.lost.set()
        with contextlib.suppress(LockError, RedisError):
            self.lock.release()


def run_while_held(lease: Lease, scheduler: scheduling.Scheduler) -> None:
    while lease.held():
        db.close_old_connections()
        try:
            scheduler.tick()
        except DatabaseError as error:
            # Nothing recorded, nothing sent: the next tick sees the same slots.
            logger.error("scheduler tick failed (%s); retrying", error)
        except RedisError as error:
            # A slot recorded but not sent is sent again after its resend time.
            logger.error("could not send a periodic message (%s); retrying", error)
        time.sleep(TICK_EVERY)


class Command(SecurityCommand):
    help = "Run the scheduler of the periodic Dramatiq actors (one active per site)."

    def handle(self, *args: Any, **options: Any) -> None:
        # SIGTERM (honcho, systemd) must release the lock so a standby takes over at once.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        for module in RunDramatiq(stdout=self.stdout).discover_tasks_modules():
            importlib.import_module(module)
        actors = scheduling.periodic_actors()
        lease = Lease(get_redis().lock(LOCK_KEY, timeout=LOCK_TTL, thread_local=False))
        try:
            while True:
                lease.acquire()
                logger.warning(
                    "scheduler lock taken; scheduling %s",
                    ", ".join(f"{a.actor_name} ({a.options['periodic']})" for a in actors),
                )
                threading.Thread(target=lease.keep, daemon=True).start()
                run_while_held(lease, self.scheduler_for(actors))
        finally:
            lease.release()

    def scheduler_for(self, actors: list) -> scheduling.Scheduler:
        while True:
            try:
                return scheduling.Scheduler(actors)
            except DatabaseError as error:
                logger.error("database unreachable (%s); retrying", error)
                db.close_old_connections()
                time.sleep(TICK_EVERY)
