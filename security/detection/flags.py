"""Findings become SuspiciousIP rows (one per IP, rule and hour) with evidence an operator can
act on, and, with SECURITY_AUTO_BLOCK, escalating automatic blocks (or, in dry-run mode, a
note of the block that would have been made)."""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction

from .. import metrics, signals
from ..models import SuspiciousIP
from ..requestlog.records import StoredRow
from . import triage

logger = logging.getLogger(__name__)

SAMPLE_REQUESTS = 5


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def sample(row: StoredRow) -> dict:
    return {
        "time": row.timestamp.isoformat(timespec="seconds"),
        "method": row.method,
        "path": row.path[:200],
        "query": row.query[:200],
        "user_agent": row.user_agent[:200],
        "status": row.status_code,
    }


@dataclass
class Flag:
    ip: str
    reason: str
    signature: str = ""
    requests: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    samples: list[dict] = field(default_factory=list)

    def add(self, row: StoredRow) -> None:
        self.requests += 1
        moment = row.timestamp
        self.first_seen = moment if self.first_seen is None else min(self.first_seen, moment)
        self.last_seen = moment if self.last_seen is None else max(self.last_seen, moment)
        if len(self.samples) < SAMPLE_REQUESTS:
            self.samples.append(sample(row))

    def as_row(self, detected_by: str) -> SuspiciousIP:
        if self.first_seen is None or self.last_seen is None:
            raise ValueError("a flag is stored once it holds a request")
        window_start = hour_of(self.first_seen)
        return SuspiciousIP(
            ip_address=self.ip,
            reason=self.reason,
            window_start=window_start,
            window_end=window_start + timedelta(hours=1),
            requests=self.requests,
            total_requests=self.requests,
            evidence={"rule": self.reason, "signature": self.signature, "requests": self.samples},
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            signature=self.signature[:200],
            detected_by=detected_by,
        )


def announce(new_rows: list[SuspiciousIP]) -> None:
    """Count new findings by rule and send ip_flagged for each once committed."""
    if not new_rows:
        return
    counts = Counter(f"flag:{row.reason}" for row in new_rows)
    transaction.on_commit(lambda: metrics.add_to_site_counters(counts))
    for row in new_rows:
        signals.send_on_commit(
            signals.ip_flagged,
            SuspiciousIP,
            suspicious=row,
            ip_address=row.ip_address,
            reason=row.reason,
            signature=row.signature,
            detected_by=row.detected_by,
        )


def record(found: list[Flag], detected_by: str) -> list[SuspiciousIP]:
    """Insert the flags not recorded yet for their hour; act on the new ones."""
    rows = [flag.as_row(detected_by) for flag in found if flag.first_seen is not None]
    with transaction.atomic():
        existing = set(
            SuspiciousIP.objects.filter(
                ip_address__in={row.ip_address for row in rows},
                window_start__in={row.window_start for row in rows},
            ).values_list("ip_address", "reason", "window_start")
        )
        new = [r for r in rows if (r.ip_address, r.reason, r.window_start) not in existing]
        SuspiciousIP.objects.bulk_create(new, ignore_conflicts=True)
        triage.act_on(new)
        announce(new)
    if new:
        logger.warning(
            "flagged %s",
            ", ".join(f"{row.ip_address} ({row.reason}: {row.signature})" for row in new[:10]),
        )
    return new
