"""Who is blocked: the per-process compiled blocklist, and the functions that change it.

Every process keeps a compiled copy of the active blocks and the allowlist. At most once per
SECURITY_BLOCKLIST_CHECK_INTERVAL it reads a version number from Redis and reloads from the
database when the number moved; changes bump the number after they commit. If Redis is down
the copy is kept and reloaded from the database on a slower timer. A copy is never dropped
because a reload failed: a blocked client stays blocked.
"""

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from .conf import conf
from .matcher import NetworkSet, address_key
from .models import AllowedIP, BlockedIP, BlockSource
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
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled: CompiledBlocklist | None = None
        self._version: object = _UNKNOWN
        self._next_check = 0.0
        self._loaded_at = 0.0

    def is_blocked(self, ip: str) -> bool:
        compiled = self._compiled
        if compiled is None or self._due(compiled):
            compiled = self._refresh()
        return compiled.is_blocked(ip)

    def reset(self) -> None:
        """Forget the compiled copy entirely; the next lookup loads from the database."""
        self._compiled = None
        self.invalidate()

    def invalidate(self) -> None:
        """Make this process reload on its next lookup (used after local changes)."""
        self._next_check = 0.0
        self._version = _UNKNOWN
        self._loaded_at = float("-inf")

    def _due(self, compiled: CompiledBlocklist) -> bool:
        return time.monotonic() >= self._next_check or time.time() >= compiled.next_expiry

    def _refresh(self) -> CompiledBlocklist:
        # Only the first load makes other threads wait; later ones keep serving the old copy.
        if not self._lock.acquire(blocking=self._compiled is None):
            return self._compiled  # type: ignore[return-value]
        try:
            if self._compiled is None or self._due(self._compiled):
                self._reload_if_changed()
            if self._compiled is None:
                raise BlocklistUnavailable("the blocklist could not be loaded")
            return self._compiled
        finally:
            self._lock.release()

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        self._next_check = now + conf.BLOCKLIST_CHECK_INTERVAL
        try:
            version: object = get_redis().get(VERSION_KEY)
        except RedisError:
            version = _UNKNOWN
        if self._compiled is None or time.time() >= self._compiled.next_expiry:
            stale = True
        elif version is _UNKNOWN:
            stale = now - self._loaded_at >= conf.BLOCKLIST_DB_RELOAD_INTERVAL
        else:
            stale = version != self._version
        if not stale:
            return
        try:
            self._compiled = compile_from_database()
        except DatabaseError as error:
            logger.error("blocklist reload failed, keeping the previous copy: %s", error)
            return
        self._version = version
        self._loaded_at = now


blocklist = Blocklist()


def is_blocked(ip: str | None) -> bool:
    return ip is not None and blocklist.is_blocked(ip)


# --- Changes: the commands and the admin go through these --------------------------------------


def announce_change() -> None:
    """Tell every process to reload, once the change is committed."""

    def bump() -> None:
        blocklist.invalidate()
        try:
            get_redis().incr(VERSION_KEY)
        except RedisError as error:
            logger.warning(
                "blocklist changed but Redis is unreachable (%s): other processes reload "
                "within %.0fs",
                error,
                conf.BLOCKLIST_DB_RELOAD_INTERVAL,
            )

    transaction.on_commit(bump)


def block(
    targets: list[str],
    reason: str = "",
    expires_at: datetime | None = None,
    source: str = BlockSource.MANUAL,
) -> int:
    """Block normalised targets; an existing block takes the new reason and expiry."""
    now = timezone.now()
    rows = [
        BlockedIP(
            ip_address=target, reason=reason, source=source, created_at=now, expires_at=expires_at
        )
        for target in targets
    ]
    with transaction.atomic():
        BlockedIP.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["ip_address"],
            update_fields=["reason", "source", "expires_at"],
        )
        announce_change()
    return len(rows)


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
    return _delete(BlockedIP, targets)


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
