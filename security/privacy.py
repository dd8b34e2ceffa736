"""Privacy: how long full client addresses are kept, and erasing one on request.

- SECURITY_ANONYMIZE_AFTER_DAYS = N: addresses in request logs, suspicion rows and the hourly
  IP rollups older than N days are cut to their network (IPv4 /24, IPv6 /48); counts and
  rollups keep adding up. Runs hourly with the retention job.
- `manage.py forget_ip TARGET`: an address or network erased from request logs, suspicion
  rows, IP rollups, blocks, the allowlist and the Redis windows and caches that name it.
"""

import contextlib
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from . import blocklist
from .addresses import parse_network
from .models import AllowedIP, BlockedIP, RequestLog, RequestRollup, RollupKind, SuspiciousIP
from .redis_client import get_redis

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
        value = get_redis().get(WATERMARK_KEY)
    except RedisError:
        return None
    return datetime.fromisoformat(value.decode()) if value else None


def anonymize_older_than(days: int) -> int:
    """Cut addresses older than `days` to their network; returns the rows changed."""
    cutoff = timezone.now() - timedelta(days=days)
    since = _watermark()
    changed = 0
    for model, time_field in ((RequestLog, "timestamp"), (SuspiciousIP, "last_seen")):
        window = {f"{time_field}__lt": cutoff}
        if since is not None and since < cutoff:
            window[f"{time_field}__gte"] = since
        addresses = (
            model.objects.filter(**window)
            .exclude(ip_address__isnull=True)
            .values_list("ip_address", flat=True)
            .distinct()
        )
        for ip in list(addresses):
            if not is_truncated(ip):
                changed += model.objects.filter(**window, ip_address=ip).update(
                    ip_address=truncated(ip)
                )
    changed += _anonymize_rollups(cutoff, since)
    with contextlib.suppress(RedisError):
        get_redis().set(WATERMARK_KEY, cutoff.isoformat())
    return changed


def _anonymize_rollups(cutoff: datetime, since: datetime | None) -> int:
    old = RequestRollup.objects.filter(kind=RollupKind.IP, hour__lt=cutoff)
    if since is not None and since < cutoff:
        # The hour the last run's cutoff fell in may have gained rows since: start there.
        old = old.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
    merged: Counter = Counter()
    rows = list(old.values_list("id", "hour", "key", "count"))
    stale = [
        (pk, hour, key, count) for pk, hour, key, count in rows if key and not is_truncated(key)
    ]
    if not stale:
        return 0
    with transaction.atomic():
        for _pk, hour, key, count in stale:
            merged[(hour, truncated(key))] += count
        ids = [pk for pk, *_ in stale]
        for start in range(0, len(ids), CHUNK):
            RequestRollup.objects.filter(id__in=ids[start : start + CHUNK]).delete()
        for (hour, key), count in merged.items():
            row, created = RequestRollup.objects.get_or_create(
                hour=hour, kind=RollupKind.IP, key=key, shard=0, defaults={"count": count}
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
    addresses: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"request logs {self.request_logs}, suspicious IPs {self.suspicious}, "
            f"IP rollups {self.rollups}, blocks {self.blocks}, allowlist {self.allowlist}, "
            f"Redis keys {self.redis_keys}"
        )


def matching(values, target) -> list[str]:
    network = parse_network(target)
    found = []
    for value in values:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            found.append(value)
    return found


def forget(target: str) -> Forgotten:
    """Erase every stored trace of an address or network (in normal form)."""
    result = Forgotten()
    logged = RequestLog.objects.exclude(ip_address__isnull=True).values_list(
        "ip_address", flat=True
    )
    flagged = SuspiciousIP.objects.values_list("ip_address", flat=True)
    rolled = RequestRollup.objects.filter(kind=RollupKind.IP).values_list("key", flat=True)
    addresses = sorted(
        set(matching(logged.distinct(), target))
        | set(matching(flagged.distinct(), target))
        | set(matching(rolled.distinct(), target))
    )
    result.addresses = addresses
    with transaction.atomic():
        for start in range(0, len(addresses), CHUNK):
            chunk = addresses[start : start + CHUNK]
            result.request_logs += RequestLog.objects.filter(ip_address__in=chunk).delete()[0]
            result.suspicious += SuspiciousIP.objects.filter(ip_address__in=chunk).delete()[0]
            rollups = RequestRollup.objects.filter(kind=RollupKind.IP, key__in=chunk)
            result.rollups += rollups.delete()[0]
        blocks = matching(BlockedIP.objects.values_list("ip_address", flat=True), target)
        result.blocks = BlockedIP.objects.filter(ip_address__in=blocks + [target]).delete()[0]
        allowed = matching(AllowedIP.objects.values_list("ip_address", flat=True), target)
        result.allowlist = AllowedIP.objects.filter(ip_address__in=allowed + [target]).delete()[0]
        if result.blocks or result.allowlist:
            blocklist.announce_change()
    result.redis_keys = _forget_in_redis(addresses)
    return result


def _forget_in_redis(addresses: list[str]) -> int:
    """Detection windows and cached geolocation answers name the address in their keys."""
    try:
        client = get_redis()
        keys = []
        for ip in addresses:
            keys += list(client.scan_iter(f"security:detect:*:{ip}:*", count=1000))
            keys += list(client.scan_iter(f"security:detect:*:{ip}|*", count=1000))
            keys += list(client.scan_iter(f"*geo:{ip}", count=1000))
        return client.delete(*keys) if keys else 0
    except RedisError:
        return 0
