"""The windowed scan (hourly actor, `manage.py detect_anomalies`): every rule the registry
lists, over a time window, upserted as SuspiciousIP rows.

Counting rules are GROUP BY queries (counting.py). Signature rules run the same matcher as
streaming, once per distinct (IP, path, query, user agent) of the requests that could carry
an attack: answered 4xx/5xx, with a query string, or from a user agent a list names. Ordinary
pages without a query string never reach Python. The scan is idempotent: rows are keyed by
(IP, reason, the hour of the first matching request), and a second run over the same data
writes the same values. It is also the catch-up for anything streaming missed while Redis or
the worker was away.
"""

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone
from redis.exceptions import LockError, RedisError

from ..models import AllowedIP, RequestLog, SuspicionStatus, SuspiciousIP
from ..progress import Progress, no_progress
from ..redis_client import get_redis
from . import exemptions, flags, registry, signatures, triage, verdicts
from .config import detect_conf
from .counting import Finding, counting_findings, per_path_findings
from .flags import hour_of

logger = logging.getLogger(__name__)

LOCK_KEY = "security:detect-lock"
SAMPLE_REQUESTS = 5


def window_requests(start: datetime, end: datetime) -> QuerySet:
    staff = get_user_model().objects.filter(is_staff=True).values("pk")
    requests = RequestLog.objects.filter(
        timestamp__gt=start, timestamp__lte=end, blocked=False, ip_address__isnull=False
    ).filter(Q(user_id__isnull=True) | ~Q(user_id__in=staff))
    for pattern in detect_conf.EXEMPT_USER_AGENTS:
        requests = requests.exclude(user_agent__iregex=pattern)
    return requests


def suspicious_user_agents(requests: QuerySet) -> list[str]:
    key = signatures.lists_key()
    agents = requests.order_by().values_list("user_agent", flat=True).distinct()
    return [agent for agent in agents if agent and verdicts.agent_signals(agent, key)]


def signature_findings(requests: QuerySet) -> list[Finding]:
    enabled = set(registry.enabled())
    carriers = requests.filter(
        Q(status_code__gte=400)
        | ~Q(query="")
        | ~Q(method__in=detect_conf.SERVED_METHODS)
        | ~Q(path__startswith="/")
        | Q(user_agent__in=suspicious_user_agents(requests))
    )
    grouped = (
        carriers.order_by()
        .values("ip_address", "method", "path", "query", "user_agent", "referer")
        .annotate(
            n=Count("id"),
            status=Max("status_code"),
            first_seen=Min("timestamp"),
            last_seen=Max("timestamp"),
        )
    )
    found: dict[tuple[str, str], Finding] = {}
    for row in grouped:
        signals = verdicts.signature_signals(
            row["path"],
            row["query"],
            row["user_agent"],
            row["referer"],
            row["method"],
            row["status"],
        )
        for signal in signals:
            if signal.reason not in enabled:
                continue
            key = (row["ip_address"], signal.reason)
            finding = found.get(key)
            if finding is None:
                finding = found[key] = Finding(
                    row["ip_address"],
                    signal.reason,
                    0,
                    0,
                    row["first_seen"],
                    row["last_seen"],
                    {"rule": signal.reason, "signature": signal.signature, "requests": []},
                    signal.signature,
                )
            finding.requests += row["n"]
            finding.total += row["n"]
            finding.first_seen = min(finding.first_seen, row["first_seen"])
            finding.last_seen = max(finding.last_seen, row["last_seen"])
            samples = finding.evidence["requests"]
            if len(samples) < SAMPLE_REQUESTS:
                samples.append(
                    {
                        "path": row["path"][:200],
                        "query": row["query"][:200],
                        "user_agent": row["user_agent"][:200],
                        "status": row["status"],
                    }
                )
    return sorted(found.values(), key=lambda f: (f.ip, f.reason))


def find(start: datetime, end: datetime, progress: Progress = no_progress) -> list[Finding]:
    """Progress: the passes over the window done, of STAGES (the last is recording)."""
    requests = window_requests(start, end)
    allowed = AllowedIP.objects.networks()
    findings: list[Finding] = []
    for done, finder in enumerate(FINDERS):
        progress(done, STAGES)
        findings += finder(requests)
    progress(len(FINDERS), STAGES)
    exempt = exemptions.current()
    return [f for f in findings if f.ip not in allowed and not exempt.covers(f.ip, "")]


def window_of(hours: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = now or timezone.now()
    return end - timedelta(hours=hours), end


def record(findings: list[Finding]) -> list[SuspiciousIP]:
    """Upsert the findings, each keyed by the hour of its first request (as streaming keys
    its flags, so both write one row); return those no operator or block has dealt with."""
    rows = [
        SuspiciousIP(
            ip_address=f.ip,
            reason=f.reason,
            window_start=hour_of(f.first_seen),
            window_end=hour_of(f.first_seen) + timedelta(hours=1),
            requests=f.requests,
            total_requests=f.total,
            evidence=f.evidence,
            first_seen=f.first_seen,
            last_seen=f.last_seen,
            signature=f.signature[:200],
            detected_by="scan",
        )
        for f in findings
    ]
    existing = set(
        SuspiciousIP.objects.filter(
            ip_address__in={row.ip_address for row in rows},
            window_start__in={row.window_start for row in rows},
        ).values_list("ip_address", "reason", "window_start")
    )
    SuspiciousIP.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["ip_address", "reason", "window_start"],
        update_fields=list(SuspiciousIP.DETECTED_FIELDS),
    )
    flags.announce([r for r in rows if (r.ip_address, r.reason, r.window_start) not in existing])
    keys = {(r.ip_address, r.reason, r.window_start) for r in rows}
    undecided = SuspiciousIP.objects.filter(
        window_start__in={row.window_start for row in rows},
        ip_address__in={row.ip_address for row in rows},
        status=SuspicionStatus.NEW,
        would_block=False,
    )
    return [r for r in undecided if (r.ip_address, r.reason, r.window_start) in keys]


FINDERS = (counting_findings, per_path_findings, signature_findings)
STAGES = len(FINDERS) + 1


def scan(
    hours: int = 1, now: datetime | None = None, progress: Progress = no_progress
) -> list[Finding]:
    start, end = window_of(hours, now)
    findings = find(start, end, progress)
    with transaction.atomic():
        new = record(findings)
        triage.act_on(new)
    progress(STAGES, STAGES)
    return findings


def scan_exclusively(
    hours: int = 1, now: datetime | None = None, progress: Progress = no_progress
) -> list[Finding] | None:
    """scan() under a Redis lock, so overlapping runs queue no duplicate work. None: skipped."""
    try:
        lock = get_redis().lock(LOCK_KEY, timeout=1800, blocking_timeout=0)
        acquired = lock.acquire()
    except RedisError as error:
        # The scan is idempotent; without Redis the lock is only lost efficiency.
        logger.warning("no lock for the anomaly scan (%s); scanning anyway", error)
        return scan(hours, now, progress)
    if not acquired:
        logger.info("another anomaly scan is running; skipped")
        return None
    try:
        return scan(hours, now, progress)
    finally:
        try:
            lock.release()
        except (LockError, RedisError) as error:
            logger.warning("could not release the anomaly scan lock: %s", error)
