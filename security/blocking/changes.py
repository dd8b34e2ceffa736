"""How the blocklist changes: the commands, the admin, feeds and automatic blocks all go
through these. A change commits, then bumps the version every process watches (and reloads
this process at once), then asks for the edge export."""

import logging
import time
import uuid
from contextvars import ContextVar
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from .. import signals
from ..conf import conf
from ..models import AllowedIP, BlockedIP, BlockSource
from ..queueing import send_by_name
from ..redis_client import get_redis
from .blocklist import VERSION_KEY, blocklist

logger = logging.getLogger(__name__)

EXPORT_ACTOR = "export_blocklist_to_edge"
EXPORT_PENDING_KEY = "security:blocklist:export-pending"
EXPORT_DEBOUNCE_SECONDS = 5
EXPORT_AT_KEY = "security:blocklist:export-at"

# How long a change keeps trying to announce itself while Redis does not answer. A command
# waits (a Sentinel failover takes seconds, and the operator is told only once every process
# knows); a web request (the admin) does not, as the others reload from the database anyway.
announce_patience: ContextVar[float] = ContextVar("announce_patience", default=0.0)
ANNOUNCE_RETRY_SECONDS = 0.5


def request_export() -> None:
    """Queue the edge export (SECURITY_EXPORT) by name, at most once per few seconds."""
    if not conf.EXPORT:
        return
    if not get_redis().set(EXPORT_PENDING_KEY, 1, nx=True, ex=EXPORT_DEBOUNCE_SECONDS):
        return
    send_by_name(EXPORT_ACTOR, delay_ms=EXPORT_DEBOUNCE_SECONDS * 1000)


def request_export_at_next_expiry() -> None:
    """Queue the edge export for just after the next block runs out (after an export), so an
    expired block leaves the edge's file too; one message per expiry time."""
    if not conf.EXPORT:
        return
    upcoming = BlockedIP.objects.next_expiry()
    if upcoming is None:
        return
    delay = max(0.0, (upcoming - timezone.now()).total_seconds()) + 1
    key = f"{EXPORT_AT_KEY}:{upcoming.timestamp():.3f}"
    try:
        if get_redis().set(key, 1, nx=True, ex=int(delay) + 60):
            send_by_name(EXPORT_ACTOR, delay_ms=int(delay * 1000))
    except RedisError as error:
        logger.warning("cannot queue the export at the next expiry: %s", error)


def announce_change() -> None:
    """Tell every process to reload, once the change is committed."""
    transaction.on_commit(lambda: bump_version(announce_patience.get()))


def bump_version(patience: float) -> None:
    """Reload this process now and tell the others through Redis, trying for `patience` seconds
    while Redis does not answer."""
    blocklist.reload_now()
    deadline = time.monotonic() + patience
    while True:
        try:
            # A fresh token, not a counter: a counter restarted by a Redis restart (or flush)
            # could land on the value a process last saw, and that process would never reload.
            get_redis().set(VERSION_KEY, uuid.uuid4().hex)
            request_export()
            return
        except RedisError as error:
            if time.monotonic() + ANNOUNCE_RETRY_SECONDS > deadline:
                logger.warning(
                    "blocklist changed but Redis is unreachable (%s): other processes reload "
                    "within %.0fs",
                    error,
                    conf.BLOCKLIST_DB_RELOAD_INTERVAL,
                )
                return
            time.sleep(ANNOUNCE_RETRY_SECONDS)


# The advisory lock every block change takes on PostgreSQL (a constant no other code uses).
BLOCK_LOCK_SPACE = 0x5EC2


def merged_block(existing: BlockedIP | None, new: BlockedIP) -> BlockedIP:
    """The longer of an active block and a new one wins, with its reason: a new block never
    shortens an active one, never erases its reason, and never turns a manual block into an
    automatic or imported one."""
    if existing is None or not existing.is_active:
        return new
    existing_lasts = existing.expires_at is None or (
        new.expires_at is not None and existing.expires_at >= new.expires_at
    )
    if existing_lasts:
        new.expires_at = existing.expires_at
        new.reason = existing.reason or new.reason
        new.source = existing.source
    else:
        new.reason = new.reason or existing.reason
    if existing.source == BlockSource.MANUAL:
        new.source = BlockSource.MANUAL
    return new


def lock_blocks() -> None:
    """Serialise block changes until this transaction ends. Without it, on PostgreSQL, a block
    made while another transaction is still inserting the same target sees no row, and its
    upsert then overwrites the other's committed, longer block. (SQLite writes one at a time.)"""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BLOCK_LOCK_SPACE])


def block(
    targets: list[str],
    reason: str = "",
    expires_at: datetime | None = None,
    source: str = BlockSource.MANUAL,
) -> list[BlockedIP]:
    """Block normalised targets, merged into any active block of the same target (feeds keep
    rows of their own). Returns the rows as they now stand."""
    now = timezone.now()
    result: list[BlockedIP] = []
    with transaction.atomic():
        lock_blocks()
        for start in range(0, len(targets), 1000):
            chunk = targets[start : start + 1000]
            existing = {
                row.ip_address: row
                for row in BlockedIP.objects.select_for_update().filter(
                    feed="", ip_address__in=chunk
                )
            }
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
                unique_fields=["ip_address", "feed"],
                update_fields=["reason", "source", "expires_at"],
            )
            result.extend(rows)
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
    return result


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
