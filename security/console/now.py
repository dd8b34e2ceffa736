"""/security/events/now/: the last 15 minutes by address: how much each sent, what it tried
(its refused and not-found requests, its paths), whether it is blocked, until when and by
what. One GROUP BY over the timestamp index's last 15 minutes, the busiest ADDRESSES only."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from ..blocking import georules
from ..blocking.blocklist import is_allowlisted, is_blocked
from ..models import BlockedIP, RequestLog
from . import scope

WINDOW = timedelta(minutes=15)
ADDRESSES = 50
PATHS = 5


@dataclass
class Active:
    ip: str
    requests: int
    refused: int
    not_found: int
    last: datetime
    paths: list[str]
    blocked: bool
    blocked_by: str
    until: datetime | None


def active(now: datetime | None = None) -> list[Active]:
    since = (now or timezone.now()) - WINDOW
    recent = RequestLog.objects.filter(timestamp__gte=since, ip_address__isnull=False)
    busiest = (
        recent.values("ip_address")
        .annotate(
            n=Count("pk"),
            refused=Count("pk", filter=Q(status_code__in=(403, 429))),
            not_found=Count("pk", filter=Q(status_code=404)),
            last=Max("timestamp"),
        )
        .order_by("-n", "ip_address")[:ADDRESSES]
    )
    found = []
    for row in busiest:
        ip = row["ip_address"]
        paths = (
            recent.filter(ip_address=ip)
            .values("path")
            .annotate(n=Count("pk"))
            .order_by("-n", "path")[:PATHS]
        )
        blocked, rule = is_blocked(ip), ""
        if not blocked and georules.configured() and not is_allowlisted(ip):
            rule = georules.denial(ip) or ""
        entry = (
            BlockedIP.objects.active()
            .filter(ip_address__in=scope.covering(ip))
            .order_by("expires_at")
            .first()
            if blocked
            else None
        )
        by = ""
        if entry is not None:
            by = f"{entry.ip_address} ({f'feed {entry.feed}' if entry.feed else entry.source})"
        elif rule:
            by = f"the rule on {rule}"
        found.append(
            Active(
                ip,
                row["n"],
                row["refused"],
                row["not_found"],
                row["last"],
                [p["path"] for p in paths],
                blocked or bool(rule),
                by,
                entry.expires_at if entry else None,
            )  # fmt: skip
        )
    return found
