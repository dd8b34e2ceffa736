"""The anomaly scan: a few aggregate queries over a time window, upserted as SuspiciousIP rows.

Rules (thresholds in settings, see security/conf.py):
- high_volume:  more than SECURITY_DETECT_VOLUME_THRESHOLD requests in the window;
- probe:        any request for a well-known attack path (/.env, /wp-login.php, ...);
- sensitive:    many requests for sensitive paths (/admin, /login), or a few answered 4xx;
- not_found:    many distinct paths answered 404 (scanning);
- rate_limited: repeatedly answered 429.

Requests that the blocklist turned away do not count: a ban must not feed the next ban.
Requests of staff users and allowlisted addresses are never flagged. The scan is idempotent:
rows are keyed by (IP, reason, the hour the window started), and a second run over the same
data writes the same values.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.utils import timezone
from redis.exceptions import LockError, RedisError

from ..conf import conf
from ..matcher import NetworkSet
from ..models import AllowedIP, RequestLog, SuspicionReason, SuspiciousIP
from ..redis_client import get_redis
from .lookups import IStartsWithAny
from .triage import auto_block

logger = logging.getLogger(__name__)

LOCK_KEY = "security:detect-lock"
SAMPLE_PATHS = 5
SENSITIVE_DENIED_THRESHOLD = 3


@dataclass
class Finding:
    ip: str
    reason: str
    requests: int
    total: int
    first_seen: datetime
    last_seen: datetime
    evidence: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"ip": self.ip, "reason": self.reason, "requests": self.requests}


def any_prefix(prefixes: tuple[str, ...]) -> Q:
    # Case-insensitive: /WP-LOGIN.PHP is as much a probe as /wp-login.php.
    return Q(IStartsWithAny(F("path"), prefixes))


def window_requests(start: datetime, end: datetime) -> QuerySet:
    staff = get_user_model().objects.filter(is_staff=True).values("pk")
    return RequestLog.objects.filter(
        timestamp__gt=start, timestamp__lte=end, blocked=False, ip_address__isnull=False
    ).filter(Q(user_id__isnull=True) | ~Q(user_id__in=staff))


def aggregate(requests: QuerySet) -> QuerySet:
    probe = any_prefix(conf.DETECT_PROBE_PATHS)
    sensitive = any_prefix(conf.DETECT_SENSITIVE_PATHS)
    client_error = Q(status_code__gte=400, status_code__lt=500)
    return (
        requests.order_by()
        .values("ip_address")
        .annotate(
            total=Count("id"),
            probes=Count("id", filter=probe),
            sensitive=Count("id", filter=sensitive),
            sensitive_denied=Count("id", filter=sensitive & client_error),
            not_found_paths=Count("path", filter=Q(status_code=404), distinct=True),
            rate_limited=Count("id", filter=Q(status_code=429)),
            first_seen=Min("timestamp"),
            last_seen=Max("timestamp"),
        )
        .filter(
            Q(total__gt=conf.DETECT_VOLUME_THRESHOLD)
            | Q(probes__gt=0)
            | Q(sensitive__gt=conf.DETECT_SENSITIVE_THRESHOLD)
            | Q(sensitive_denied__gte=SENSITIVE_DENIED_THRESHOLD)
            | Q(not_found_paths__gte=conf.DETECT_NOT_FOUND_THRESHOLD)
            | Q(rate_limited__gte=conf.DETECT_RATE_LIMITED_THRESHOLD)
        )
    )


def reasons_of(row: dict) -> list[tuple[str, int]]:
    reasons = []
    if row["total"] > conf.DETECT_VOLUME_THRESHOLD:
        reasons.append((SuspicionReason.HIGH_VOLUME, row["total"]))
    if row["probes"] > 0:
        reasons.append((SuspicionReason.PROBE, row["probes"]))
    if (
        row["sensitive"] > conf.DETECT_SENSITIVE_THRESHOLD
        or row["sensitive_denied"] >= SENSITIVE_DENIED_THRESHOLD
    ):
        reasons.append((SuspicionReason.SENSITIVE, row["sensitive"]))
    if row["not_found_paths"] >= conf.DETECT_NOT_FOUND_THRESHOLD:
        reasons.append((SuspicionReason.NOT_FOUND, row["not_found_paths"]))
    if row["rate_limited"] >= conf.DETECT_RATE_LIMITED_THRESHOLD:
        reasons.append((SuspicionReason.RATE_LIMITED, row["rate_limited"]))
    return reasons


def sample_paths(requests: QuerySet, ip: str) -> list[str]:
    interesting = (
        any_prefix(conf.DETECT_PROBE_PATHS)
        | any_prefix(conf.DETECT_SENSITIVE_PATHS)
        | Q(status_code__gte=400)
    )
    paths = (
        requests.filter(ip_address=ip)
        .filter(interesting)
        .order_by("path")
        .values_list("path", flat=True)
        .distinct()[:SAMPLE_PATHS]
    )
    return [path[:200] for path in paths]


def find(start: datetime, end: datetime) -> list[Finding]:
    requests = window_requests(start, end)
    allowed = NetworkSet(AllowedIP.objects.values_list("ip_address", flat=True))
    findings = []
    for row in aggregate(requests):
        ip = row["ip_address"]
        if ip in allowed:
            continue
        evidence = {
            key: row[key]
            for key in ("total", "probes", "sensitive", "not_found_paths", "rate_limited")
        }
        evidence["sample_paths"] = sample_paths(requests, ip)
        for reason, count in reasons_of(row):
            findings.append(
                Finding(
                    ip, reason, count, row["total"], row["first_seen"], row["last_seen"], evidence
                )
            )
    return findings


def window_of(hours: int, now: datetime | None = None) -> tuple[datetime, datetime, datetime]:
    end = now or timezone.now()
    start = end - timedelta(hours=hours)
    return start, end, start.replace(minute=0, second=0, microsecond=0)


def record(findings: list[Finding], window_start: datetime, hours: int) -> None:
    rows = [
        SuspiciousIP(
            ip_address=f.ip,
            reason=f.reason,
            window_start=window_start,
            window_end=window_start + timedelta(hours=hours),
            requests=f.requests,
            total_requests=f.total,
            evidence=f.evidence,
            first_seen=f.first_seen,
            last_seen=f.last_seen,
        )
        for f in findings
    ]
    SuspiciousIP.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["ip_address", "reason", "window_start"],
        update_fields=list(SuspiciousIP.DETECTED_FIELDS),
    )


def scan(hours: int = 1, now: datetime | None = None) -> list[Finding]:
    start, end, window_start = window_of(hours, now)
    findings = find(start, end)
    with transaction.atomic():
        record(findings, window_start, hours)
        if conf.AUTO_BLOCK:
            reasons: dict[str, list[str]] = {}
            for finding in findings:
                reasons.setdefault(finding.ip, []).append(finding.reason)
            auto_block(reasons)
    return findings


def scan_exclusively(hours: int = 1) -> list[Finding] | None:
    """scan() under a Redis lock, so overlapping runs queue no duplicate work. None: skipped."""
    try:
        lock = get_redis().lock(LOCK_KEY, timeout=1800, blocking_timeout=0)
        acquired = lock.acquire()
    except RedisError as error:
        # The scan is idempotent; without Redis the lock is only lost efficiency.
        logger.warning("no lock for the anomaly scan (%s); scanning anyway", error)
        return scan(hours)
    if not acquired:
        logger.info("another anomaly scan is running; skipped")
        return None
    try:
        return scan(hours)
    finally:
        try:
            lock.release()
        except (LockError, RedisError) as error:
            logger.warning("could not release the anomaly scan lock: %s", error)
