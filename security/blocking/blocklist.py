"""Who is blocked: the per-process compiled blocklist and its lookups (changes.py changes it).

Every process keeps a compiled copy of the active blocks and the allowlist. At most once per
SECURITY_BLOCKLIST_CHECK_INTERVAL it reads a version number from Redis and reloads from the
database when the number moved; changes bump the number after they commit. If Redis is down
the copy is kept and reloaded from the database on a slower timer. A copy is never dropped
because a reload failed: a blocked client stays blocked.
"""

import logging
import os
import threading
import time

from django import db
from django.db import DatabaseError
from redis.exceptions import RedisError

from .. import metrics
from ..addresses import address_key
from ..conf import conf
from ..matcher import NetworkSet
from ..models import AllowedIP, BlockedIP
from ..redis_client import get_redis

logger = logging.getLogger(__name__)

VERSION_KEY = "security:blocklist:version"
_UNKNOWN = object()


class BlocklistUnavailable(Exception):
    """The blocklist was never loaded in this process (database down at start)."""


# Verdicts a compiled copy remembers, by client address (clients repeat; a copy never changes,
# so a remembered verdict is right for as long as the copy is used).
VERDICT_LIMIT = 16384


class CompiledBlocklist:
    def __init__(self, blocked: NetworkSet, allowed: NetworkSet, next_expiry: float) -> None:
        self.blocked = blocked
        self.allowed = allowed
        self.next_expiry = next_expiry  # wall-clock seconds; rebuild when it passes
        self.verdicts: dict[str, bool] = {}

    def is_blocked(self, ip: str) -> bool:
        verdict = self.verdicts.get(ip)
        if verdict is None:
            key = address_key(ip)
            verdict = (
                key is not None
                and self.blocked.contains_key(key)
                and not self.allowed.contains_key(key)
            )
            if len(self.verdicts) >= VERDICT_LIMIT:
                self.verdicts.clear()
            self.verdicts[ip] = verdict
        return verdict


def compile_from_database() -> CompiledBlocklist:
    upcoming = BlockedIP.objects.next_expiry()
    return CompiledBlocklist(
        BlockedIP.objects.active().networks(),
        AllowedIP.objects.networks(),
        upcoming.timestamp() if upcoming else float("inf"),
    )


class Blocklist:
    """This process's compiled copy, kept fresh by a background thread.

    Only the very first load makes a request wait; every later reload (a version change, an
    expiry, the database timer while Redis is away) is built by the thread while requests keep
    matching against the previous copy.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._compiled: CompiledBlocklist | None = None
        self._version: object = _UNKNOWN
        self._loaded_at = 0.0

    @property
    def loaded(self) -> bool:
        return self._compiled is not None

    def is_blocked(self, ip: str) -> bool:
        compiled = self._compiled
        if compiled is None:
            compiled = self.load_first()
        if self._thread is None:
            self._start_thread()
        verdict = compiled.verdicts.get(ip)  # the common case, without another call
        return compiled.is_blocked(ip) if verdict is None else verdict

    def load_first(self) -> CompiledBlocklist:
        with self._lock:
            if self._compiled is None:
                self._reload(force=True)
            if self._compiled is None:
                raise BlocklistUnavailable("the blocklist could not be loaded")
            return self._compiled

    def reset(self) -> None:
        """Forget the compiled copy entirely; the next lookup loads from the database."""
        with self._lock:
            self._compiled = None
            self._version = _UNKNOWN

    def reload_now(self) -> None:
        """Reload in the calling thread (one that changed the blocks, never a plain request)."""
        if self._compiled is None:
            return
        with self._lock:
            self._reload(force=True)

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="security-blocklist", daemon=True
                )
                self._thread.start()

    def _next_wait(self) -> float:
        """The check interval, or less when a block expires sooner: the thread wakes for an
        expiry by itself, so no request needs to ask the clock. A copy already past its expiry
        is one whose reload failed: the database is tried again on the interval."""
        interval = conf.BLOCKLIST_CHECK_INTERVAL
        compiled = self._compiled
        until_expiry = float("inf") if compiled is None else compiled.next_expiry - time.time()
        return interval if until_expiry <= 0 else min(interval, until_expiry)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._next_wait())
            self._wake.clear()
            try:
                with self._lock:
                    self._reload()
            except Exception:  # the thread must survive anything to keep the copy fresh
                logger.exception("blocklist refresh failed; keeping the previous copy")
            finally:
                db.connection.close()

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        try:
            version: object = get_redis().get(VERSION_KEY)
        except RedisError:
            version = _UNKNOWN
        compiled = self._compiled
        if force or compiled is None or time.time() >= compiled.next_expiry:
            stale = True
        elif version is _UNKNOWN:
            stale = now - self._loaded_at >= conf.BLOCKLIST_DB_RELOAD_INTERVAL
        else:
            stale = version != self._version
        if not stale:
            if version is not _UNKNOWN:
                metrics.BLOCKLIST_CHECKED.set(time.time())
            return
        try:
            self._compiled = compile_from_database()
        except DatabaseError as error:
            logger.error("blocklist reload failed, keeping the previous copy: %s", error)
            return
        if compiled is None or self._compiled.next_expiry < compiled.next_expiry:
            self._wake.set()  # the thread may be waiting past the new copy's first expiry
        self._version = version
        self._loaded_at = now
        metrics.BLOCKLIST_NETWORKS.set(len(self._compiled.blocked))
        metrics.BLOCKLIST_CHECKED.set(time.time())


blocklist = Blocklist()


def is_blocked(ip: str) -> bool:
    return blocklist.is_blocked(ip)


def is_allowlisted(ip: str) -> bool:
    """On this process's compiled copy (call after is_blocked, which loads it)."""
    compiled = blocklist._compiled
    key = address_key(ip)
    return compiled is not None and key is not None and compiled.allowed.contains_key(key)
