"""Who is blocked: the per-process compiled blocklist, and the functions that change it.

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
import uuid
from collections.abc import Iterable
from datetime import datetime

from django import db
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from . import metrics, signals
from .conf import conf
from .matcher import NetworkSet, address_key
from .models import AllowedIP, BlockedIP, BlockSource
from .queueing import send_by_name
from .redis_client import get_redis

logger = logging.getLogger(__name__)

VERSION_KEY = "security:blocklist:version"
_UNKNOWN = object()


class BlocklistUnavailable(Exception):
    """The blocklist was never loaded in this process (database down at start)."""


class CompiledBlocklist:
    def __init__(self, blocked: Iterable[str], allowed: Iterable[str], next_expiry: float) -> None:
        self.blocked = NetworkSet(blocked)
        self.allowed = NetworkSet(allowed)
        self.next_expiry = next_expiry  # wall-clock seconds; rebuild when it passes

    def is_blocked(self, ip: str) -> bool:
        key = address_key(ip)
        return (
            key is not None
            and self.blocked.contains_key(key)
            and not self.allowed.contains_key(key)
        )


def active_blocks():
    return BlockedIP.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


def compile_from_database() -> CompiledBlocklist:
    now = timezone.now()
    blocked = list(active_blocks().values_list("ip_address", flat=True))
    allowed = list(AllowedIP.objects.values_list("ip_address", flat=True))
    upcoming = (
        BlockedIP.objects.filter(expires_at__gt=now)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    next_expiry = upcoming.timestamp() if upcoming else float("inf")
    return CompiledBlocklist(blocked, allowed, next_expiry)


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
        if time.time() >= compiled.next_expiry:
            self._wake.set()
        return compiled.is_blocked(ip)

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

    def _run(self) -> None:
        while True:
            self._wake.wait(conf.BLOCKLIST_CHECK_INTERVAL)
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


# --- Changes: the commands and the admin go through these --------------------------------------


EXPORT_ACTOR = "export_blocklist_to_edge"
EXPORT_PENDING_KEY = "security:blocklist:export-pending"
EXPORT_DEBOUNCE_SECONDS = 5


def request_export() -> None:
    """Queue the edge export (SECURITY_EXPORT) by name, at most once per few seconds."""
    if not getattr(settings, "SECURITY_EXPORT", None):
        return
    if not get_redis().set(EXPORT_PENDING_KEY, 1, nx=True, ex=EXPORT_DEBOUNCE_SECONDS):
        return
    send_by_name(EXPORT_ACTOR, delay_ms=EXPORT_DEBOUNCE_SECONDS * 1000)


def announce_change() -> None:
    """Tell every process to reload, once the change is committed."""

    def bump() -> None:
        blocklist.reload_now()
        try:
            # A fresh token, not a counter: a counter restarted by a Redis restart (or flush)
            # could land on the value a process last saw, and that process would never reload.
            get_redis().set(VERSION_KEY, uuid.uuid4().hex)
            request_export()
        except RedisError as error:
            logger.warning(
                "blocklist changed but Redis is unreachable (%s): other processes reload "
                "within %.0fs",
                error,
                conf.BLOCKLIST_DB_RELOAD_INTERVAL,
            )

    transaction.on_commit(bump)


def merged_block(existing: BlockedIP | None, new: BlockedIP) -> BlockedIP:
    """A new block never shortens an active one, never erases its reason, and never turns a
    manual block into an automatic or imported one."""
    if existing is None or not existing.is_active:
        return new
    if existing.expires_at is None or new.expires_at is None:
        new.expires_at = None
    else:
        new.expires_at = max(existing.expires_at, new.expires_at)
    if existing.reason and new.reason and new.reason not in existing.reason:
        new.reason = f"{existing.reason}; {new.reason}"[:255]
    elif existing.reason:
        new.reason = existing.reason
    if existing.source == BlockSource.MANUAL:
        new.source = BlockSource.MANUAL
    return new


def block(
    targets: list[str],
    reason: str = "",
    expires_at: datetime | None = None,
    source: str = BlockSource.MANUAL,
) -> int:
    """Block normalised targets, merged into any active block of the same target."""
    now = timezone.now()
    with transaction.atomic():
        for start in range(0, len(targets), 1000):
            chunk = targets[start : start + 1000]
            existing = BlockedIP.objects.select_for_update().in_bulk(chunk, field_name="ip_address")
            rows = [
                merged_block(
                    existing.get(target),
                    BlockedIP(
                        ip_address=target,
                        reason=reason[:255],
                        source=source,
                        created_at=now,
                        expires_at=expires_at,
                    ),
                )
                for target in chunk
            ]
            BlockedIP.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["ip_address"],
                update_fields=["reason", "source", "expires_at"],
            )
        announce_change()
        if targets:
            signals.send_on_commit(
                signals.ip_blocked,
                BlockedIP,
                targets=list(targets),
                reason=reason[:255],
                expires_at=expires_at,
                source=source,
            )
    return len(targets)


def _delete(model: type[BlockedIP] | type[AllowedIP], targets: list[str]) -> int:
    deleted = 0
    with transaction.atomic():
        # Chunked: SQLite caps the number of parameters in one statement.
        for start in range(0, len(targets), 1000):
            chunk = targets[start : start + 1000]
            deleted += model.objects.filter(ip_address__in=chunk).delete()[0]
        announce_change()
    return deleted


def unblock(targets: list[str]) -> int:
    with transaction.atomic():
        removed = _delete(BlockedIP, targets)
        if removed:
            signals.send_on_commit(
                signals.ip_unblocked, BlockedIP, targets=list(targets), removed=removed
            )
    return removed


def allow(targets: list[str], reason: str = "") -> int:
    rows = [AllowedIP(ip_address=target, reason=reason) for target in targets]
    with transaction.atomic():
        AllowedIP.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["ip_address"],
            update_fields=["reason"],
        )
        announce_change()
    return len(rows)


def disallow(targets: list[str]) -> int:
    return _delete(AllowedIP, targets)
