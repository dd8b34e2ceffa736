"""What the staff dashboard shows, read from the hourly rollups (a few hundred rows), not from
millions of RequestLog rows."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Q, Sum
from django.utils import timezone

from .blocking.blocklist import is_blocked
from .models import RequestRollup, RollupKind, SuspiciousIP
from .requestlog import traffic

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
TOP = 10


def window_start(range_name: str, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return (now - RANGES[range_name]).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=1
    )


def not_the_operators() -> Q:
    """Paths of the site's traffic, not of the operator looking (traffic.console_prefixes)."""
    own = Q()
    for prefix in traffic.console_prefixes():
        own |= Q(key__startswith=prefix)
    return ~own


def totals_by_key(
    kind: str, start: datetime, limit: int | None = TOP, keys: Q | None = None
) -> list[dict]:
    rows = (
        RequestRollup.objects.filter(kind=kind, hour__gte=start)
        .filter(keys or Q())
        .values("key")
        .annotate(count=Sum("count"))
        .order_by("-count", "key")
    )
    if limit:
        rows = rows[:limit]
    return [{"key": row["key"], "count": row["count"]} for row in rows]


def requests_over_time(start: datetime, now: datetime) -> list[dict]:
    counts = dict(
        RequestRollup.objects.filter(kind=RollupKind.TOTAL, hour__gte=start)
        .values("hour")
        .annotate(total=Sum("count"))
        .values_list("hour", "total")
    )
    hours = []
    hour = start
    while hour <= now:
        hours.append({"hour": hour.isoformat(), "count": counts.get(hour, 0)})
        hour += timedelta(hours=1)
    return hours


def status_classes(statuses: dict[str, int]) -> dict[str, int]:
    classes = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    for code, count in statuses.items():
        label = f"{code[:1]}xx"
        if label in classes:
            classes[label] += count
    return classes


def summary(range_name: str = "24h", now: datetime | None = None) -> dict:
    now = now or timezone.now()
    start = window_start(range_name, now)
    statuses = {row["key"]: row["count"] for row in totals_by_key(RollupKind.STATUS, start, None)}
    blocked = sum(row["count"] for row in totals_by_key(RollupKind.BLOCKED, start, None))
    series = requests_over_time(start, now)
    return {
        "range": range_name,
        "since": start.isoformat(),
        "total": sum(point["count"] for point in series),
        "blocked": blocked,
        "rate_limited": statuses.get("429", 0),
        "series": series,
        "status_classes": status_classes(statuses),
        "top_countries": [
            {"key": row["key"] or "unknown", "count": row["count"]}
            for row in totals_by_key(RollupKind.COUNTRY, start)
        ],
        "top_ips": totals_by_key(RollupKind.IP, start),
        "top_paths": totals_by_key(RollupKind.PATH, start, keys=not_the_operators()),
    }


@dataclass
class Flagged:
    """One flagged address, whatever its flags' status: all its rules on one line."""

    ip_address: str
    detected_at: datetime
    reasons: list[str]
    signature: str
    requests: int
    would_block: bool
    blocked: bool


def newest_suspicious(limit: int = 10) -> list[Flagged]:
    newest = (
        SuspiciousIP.objects.values("ip_address")
        .annotate(last=Max("detected_at"))
        .order_by("-last", "ip_address")[:limit]
    )
    order = {row["ip_address"]: row["last"] for row in newest}
    rows = SuspiciousIP.objects.filter(ip_address__in=order).order_by("-detected_at")
    found: dict[str, Flagged] = {}
    for row in rows[: limit * 50]:
        item = found.get(row.ip_address)
        if item is None:
            item = found[row.ip_address] = Flagged(
                row.ip_address, order[row.ip_address], [], row.signature, 0, False,
                is_blocked(row.ip_address),
            )  # fmt: skip
        label = row.get_reason_display()
        if label not in item.reasons:
            item.reasons.append(label)
        item.signature = item.signature or row.signature
        item.requests = max(item.requests, row.requests)
        item.would_block = item.would_block or row.would_block
    return sorted(found.values(), key=lambda f: (-f.detected_at.timestamp(), f.ip_address))
