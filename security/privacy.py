"""Privacy: how long full client addresses are kept, and erasing one on request.

- SECURITY_ANONYMIZE_AFTER_DAYS = N: addresses in request logs, suspicion rows and the rollups
  keyed by address (the dashboard's hourly IP rollups, the analytics' hourly and daily ones)
  older than N days are cut to their network (IPv4 /24, IPv6 /48); counts and rollups keep
  adding up. Runs hourly with the retention job.
- `manage.py forget_ip TARGET`: an address or network erased from request logs, suspicion
  rows, IP rollups, blocks, the allowlist, the Redis windows and caches that name it, and
  what is still on its way (security/erasure.py): records not drained yet, dead letters,
  queued alert messages. The visitor sketches hold keyed hashes, not addresses
  (requestlog/sketches.py): they name no one, like the other counts.
"""

import contextlib
import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from . import alerts, erasure, redis_keys
from .addresses import parse_network
from .blocking import changes
from .matcher import NetworkSet
from .models import (
    ADDRESS_KINDS,
    AllowedIP,
    BlockedIP,
    RequestLog,
    RequestRollup,
    SuspiciousIP,
)
from .progress import Progress, no_progress
from .redis_client import get_redis
from .requestlog import store

PREFIX = {4: 24, 6: 48}
CHUNK = 1000


def truncated(ip: str) -> str:
    """The network an address is kept as: 203.0.113.77 -> 203.0.113.0, 2001:db8:1:2::5 ->
    2001:db8:1:: (the /48's first address, a valid address for the IP column)."""
    address = ipaddress.ip_address(ip)
    network = ipaddress.ip_network(f"{address}/{PREFIX[address.version]}", strict=False)
    return str(network.network_address)


def is_truncated(ip: str) -> bool:
    return truncated(ip) == ip


WATERMARK_KEY = "security:privacy:anonymized-until"


def _watermark() -> datetime | None:
    """Up to when an earlier run got: each hourly run then reads one hour of rows, not the
    whole retention period. Without Redis, the run starts from the beginning (same result)."""
    try:
        value = cast(bytes | None, get_redis().get(WATERMARK_KEY))
    except RedisError:
        return None
    return datetime.fromisoformat(value.decode()) if value else None


def anonymize_older_than(days: int) -> int:
    """Cut addresses older than `days` to their network; returns the rows changed."""
    cutoff = timezone.now() - timedelta(days=days)
    since = _watermark()
    changed = 0
    window = {"timestamp__lt": cutoff}
    if since is not None and since < cutoff:
        window["timestamp__gte"] = since
    addresses = (
        RequestLog.objects.filter(**window)
        .exclude(ip_address__isnull=True)
        .values_list("ip_address", flat=True)
        .distinct()
    )
    for ip in list(addresses):
        if ip and not is_truncated(ip):
            changed += RequestLog.objects.filter(**window, ip_address=ip).update(
                ip_address=truncated(ip)
            )
    changed += _anonymize_suspicious(cutoff, since)
    changed += _anonymize_rollups(cutoff, since)
    with contextlib.suppress(RedisError):
        get_redis().set(WATERMARK_KEY, cutoff.isoformat())
    return changed


def _anonymize_suspicious(cutoff: datetime, since: datetime | None) -> int:
    """Cut flagged addresses to their networks. Rows are one per (address, rule, hour): two
    addresses of one network flagged for the same rule in the same hour become one row, their
    counts added and their samples kept together."""
    old = SuspiciousIP.objects.filter(last_seen__lt=cutoff)
    if since is not None and since < cutoff:
        old = old.filter(last_seen__gte=since)
    stale = [row for row in old.order_by("pk") if not is_truncated(row.ip_address)]
    if not stale:
        return 0
    with transaction.atomic():
        keep: dict[tuple, SuspiciousIP] = {}
        existing = SuspiciousIP.objects.filter(
            ip_address__in={truncated(row.ip_address) for row in stale},
            window_start__in={row.window_start for row in stale},
        )
        for row in existing:
            keep[(row.ip_address, row.reason, row.window_start)] = row
        merged_away = []
        for row in stale:
            key = (truncated(row.ip_address), row.reason, row.window_start)
            target = keep.get(key)
            if target is None:
                row.ip_address = key[0]
                keep[key] = row
                continue
            merge_into(target, row)
            merged_away.append(row.pk)
        SuspiciousIP.objects.filter(pk__in=merged_away).delete()
        for row in keep.values():
            row.save()
    return len(stale)


def merge_into(target: SuspiciousIP, other: SuspiciousIP) -> None:
    target.requests += other.requests
    target.total_requests += other.total_requests
    target.first_seen = min(target.first_seen, other.first_seen)
    target.last_seen = max(target.last_seen, other.last_seen)
    target.would_block = target.would_block or other.would_block
    samples = (target.evidence or {}).get("requests")
    extra = (other.evidence or {}).get("requests")
    if isinstance(samples, list) and isinstance(extra, list):
        target.evidence["requests"] = (samples + extra)[: max(len(samples), 5)]


def _anonymize_rollups(cutoff: datetime, since: datetime | None) -> int:
    old = RequestRollup.objects.filter(kind__in=ADDRESS_KINDS, hour__lt=cutoff)
    if since is not None and since < cutoff:
        # The day the last run's cutoff fell in may have gained rows since (daily rollups
        # are stamped with its midnight): start there.
        old = old.filter(hour__gte=since.replace(hour=0, minute=0, second=0, microsecond=0))
    merged: Counter = Counter()
    rows = list(old.values_list("id", "hour", "kind", "key", "count"))
    stale = [row for row in rows if row[3] and not is_truncated(row[3])]
    if not stale:
        return 0
    with transaction.atomic():
        for _pk, hour, kind, key, count in stale:
            merged[(hour, kind, truncated(key))] += count
        ids = [pk for pk, *_ in stale]
        for start in range(0, len(ids), CHUNK):
            RequestRollup.objects.filter(id__in=ids[start : start + CHUNK]).delete()
        for (hour, kind, key), count in merged.items():
            row, created = RequestRollup.objects.get_or_create(
                hour=hour, kind=kind, key=key, shard=0, defaults={"count": count}
            )
            if not created:
                RequestRollup.objects.filter(pk=row.pk).update(count=row.count + count)
    return len(stale)


@dataclass
class Forgotten:
    request_logs: int = 0
    suspicious: int = 0
    rollups: int = 0
    blocks: int = 0
    allowlist: int = 0
    redis_keys: int = 0
    in_flight: int = 0  # records still in the stream
    dead_letters: int = 0
    alerts: int = 0
    addresses: list[str] = field(default_factory=list)
    redis_error: str = ""  # Redis was unreachable: what lives there was not searched

    def summary(self) -> str:
        return (
            f"request logs {self.request_logs}, suspicious IPs {self.suspicious}, "
            f"IP rollups {self.rollups}, blocks {self.blocks}, allowlist {self.allowlist}, "
            f"records not yet stored {self.in_flight}, dead letters {self.dead_letters}, "
            f"queued alerts {self.alerts}, Redis keys {self.redis_keys}"
        )


def matching(values: Iterable[str | None], target: str) -> list[str]:
    network = parse_network(target)
    found: list[str] = []
    for value in values:
        if value is None:
            continue
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            found.append(value)
    return found


def forget(target: str, progress: Progress = no_progress) -> Forgotten:
    """Erase every stored trace of an address or network (in normal form): first what is on
    its way (so it cannot come back), then the tables, then Redis keys that name it.
    Progress counts the addresses whose rows are erased."""
    result = Forgotten()
    _erase_in_flight(target, result)
    with transaction.atomic():
        wait_for_drains()
        _erase_rows(target, result, progress)
    result.redis_keys = redis_keys.delete_naming(result.addresses)
    return result


def _erase_in_flight(target: str, result: Forgotten) -> None:
    erased = NetworkSet([target])
    try:
        erasure.remember(target)
        result.in_flight = erasure.purge_stream(erased)
        result.dead_letters = erasure.purge_dead_letters(erased)
        result.alerts = erasure.purge_queued_alerts(erased, alerts.WEBHOOK_QUEUE)
    except RedisError as error:
        result.redis_error = str(error)


def wait_for_drains() -> None:
    """PostgreSQL: wait for the drains under way (they hold this lock shared) to commit, so
    their rows are here to be deleted; later ones see the tombstone."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [store.ERASURE_LOCK_SPACE])


def _erase_rows(target: str, result: Forgotten, progress: Progress) -> None:
    logged = RequestLog.objects.exclude(ip_address__isnull=True).values_list(
        "ip_address", flat=True
    )
    flagged = SuspiciousIP.objects.values_list("ip_address", flat=True)
    rolled = RequestRollup.objects.filter(kind__in=ADDRESS_KINDS).values_list("key", flat=True)
    addresses = sorted(
        set(matching(logged.distinct(), target))
        | set(matching(flagged.distinct(), target))
        | set(matching(rolled.distinct(), target))
    )
    result.addresses = addresses
    for start in range(0, len(addresses), CHUNK):
        chunk = addresses[start : start + CHUNK]
        result.request_logs += RequestLog.objects.filter(ip_address__in=chunk).delete()[0]
        result.suspicious += SuspiciousIP.objects.filter(ip_address__in=chunk).delete()[0]
        rollups = RequestRollup.objects.filter(kind__in=ADDRESS_KINDS, key__in=chunk)
        result.rollups += rollups.delete()[0]
        progress(start + len(chunk), len(addresses))
    blocks = matching(BlockedIP.objects.values_list("ip_address", flat=True), target)
    result.blocks = BlockedIP.objects.filter(ip_address__in=blocks + [target]).delete()[0]
    allowed = matching(AllowedIP.objects.values_list("ip_address", flat=True), target)
    result.allowlist = AllowedIP.objects.filter(ip_address__in=allowed + [target]).delete()[0]
    if result.blocks or result.allowlist:
        changes.announce_change()
