"""What happens to a flagged IP: an operator's decision, or an automatic block."""

import logging
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import metrics
from ..blocking import changes
from ..conf import conf
from ..models import BlockedIP, BlockSource, SuspicionStatus, SuspiciousIP
from ..targets import parse_duration
from . import prefixes

logger = logging.getLogger(__name__)

ONE_CLICK_BLOCK = timedelta(hours=24)


def set_status(ips: list[str], status: str) -> None:
    """An operator's decision applies to every suspicion row of those IPs."""
    SuspiciousIP.objects.filter(ip_address__in=ips).update(status=status)


def block_flagged(ips: list[str], reason: str, duration: timedelta | None) -> None:
    """Block flagged IPs for duration (None: for good) and mark their rows blocked."""
    expires_at = timezone.now() + duration if duration is not None else None
    changes.block(ips, reason=reason, expires_at=expires_at)
    set_status(ips, SuspicionStatus.BLOCKED)


def escalation_step(strikes: int) -> timedelta:
    steps = conf.AUTO_BLOCK_ESCALATION
    return parse_duration(steps[min(strikes, len(steps) - 1)])


def auto_block(reasons: dict[str, list[str]]) -> list[str]:
    """Block flagged IPs (with the reasons they were flagged for), each new automatic block of
    an address lasting longer than its last (SECURITY_AUTO_BLOCK_ESCALATION). Addresses
    already blocked are left alone; a manual block is never shortened or overwritten."""
    ips = sorted(reasons)
    if not ips:
        return []
    active = BlockedIP.objects.active().networks()
    # An IPv6 client is blocked as its prefix: the next address of the /64 is the same client.
    targets: dict[str, list[str]] = {}
    for ip in ips:
        if ip not in active:
            targets.setdefault(prefixes.client_key(ip), []).extend(reasons[ip])
    reasons = targets
    new = sorted(targets)
    strikes = dict(
        BlockedIP.objects.filter(ip_address__in=new, feed="").values_list("ip_address", "strikes")
    )
    now = timezone.now()
    for ip in new:
        changes.block(
            [ip],
            reason="automatic: " + ", ".join(sorted(set(reasons[ip]))),
            expires_at=now + escalation_step(strikes.get(ip, 0)),
            source=BlockSource.AUTOMATIC,
        )
        BlockedIP.objects.filter(ip_address=ip, feed="").update(strikes=F("strikes") + 1)
    if new:
        logger.warning("automatically blocked %d IPs: %s", len(new), ", ".join(new[:20]))
        counts = Counter(f"autoblock:{reason}" for ip in new for reason in set(reasons[ip]))
        transaction.on_commit(lambda: metrics.add_to_site_counters(counts))
    SuspiciousIP.objects.filter(ip_address__in=ips, status=SuspicionStatus.NEW).update(
        status=SuspicionStatus.BLOCKED
    )
    return new


def act_on(new_rows: list[SuspiciousIP]) -> None:
    """What SECURITY_AUTO_BLOCK does with newly flagged rows; in dry-run mode, only note it."""
    if not conf.AUTO_BLOCK or not new_rows:
        return
    reasons: dict[str, list[str]] = {}
    for row in new_rows:
        reasons.setdefault(row.ip_address, []).append(row.reason)
    if conf.DETECT_DRY_RUN:
        active = BlockedIP.objects.active().networks()
        would = [ip for ip in reasons if ip not in active]
        SuspiciousIP.objects.filter(
            ip_address__in=would, window_start__in={row.window_start for row in new_rows}
        ).update(would_block=True)
        if would:
            logger.warning("dry run: would have blocked %s", ", ".join(sorted(would)[:20]))
        return
    auto_block(reasons)
