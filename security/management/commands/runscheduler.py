"""Run the periodiq scheduler: exactly one active per site, guarded by a lock in Redis.

Two schedulers would send every periodic job twice, so a second one stands by until the lock
is free (the first stopped, or died and its lock expired) and then takes over.
"""

import contextlib
import logging
import os
import signal
import sys
import threading
import time

import periodiq
from django.core.management.base import BaseCommand
from django_dramatiq.management.commands.rundramatiq import Command as RunDramatiq
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from security.redis_client import get_redis

logger = logging.getLogger("security.scheduler")

LOCK_KEY = "security:scheduler-lock"
LOCK_TTL = 90
RENEW_EVERY = 30
RETRY_EVERY = 5


def keep_lock(lock: Lock) -> None:
    while True:
        time.sleep(RENEW_EVERY)
        try:
            lock.extend(LOCK_TTL, replace_ttl=True)
        except LockError:
            logger.critical("another scheduler took over the lock; stopping this one")
            os._exit(1)
        except RedisError as error:
            logger.warning("could not renew the scheduler lock: %s", error)


def wait_for_lock(lock: Lock) -> None:
    announced = False
    while True:
        try:
            if lock.acquire(blocking=False):
                return
            reason = "another scheduler is running"
        except RedisError as error:
            reason = f"Redis unreachable ({error})"
        if not announced:
            logger.warning("%s: standing by until the scheduler lock is free", reason)
            announced = True
        time.sleep(RETRY_EVERY)


class Command(BaseCommand):
    help = "Run the periodiq scheduler for the periodic Dramatiq actors (one active per site)."

    def handle(self, *args, **options) -> None:
        # SIGTERM (honcho, systemd) must release the lock so a restart takes over at once.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        lock = get_redis().lock(LOCK_KEY, timeout=LOCK_TTL, thread_local=False)
        wait_for_lock(lock)
        logger.info("scheduler lock taken")
        threading.Thread(target=keep_lock, args=(lock,), daemon=True).start()
        modules = RunDramatiq(stdout=self.stdout).discover_tasks_modules()
        # Django's --verbosity 2 and 3 become periodiq's -v and -vv.
        argv = ["django_dramatiq.setup", *modules] + ["-v"] * max(0, options["verbosity"] - 1)
        try:
            sys.exit(periodiq.main(periodiq.make_argument_parser().parse_args(argv)))
        finally:
            with contextlib.suppress(LockError, RedisError):
                lock.release()
