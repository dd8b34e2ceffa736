"""What happens to a flagged IP: an operator's decision, or an automatic block."""

import logging
from datetime import timedelta

from django.utils import timezone

from .. import blocklist
from ..conf import conf
from ..matcher import NetworkSet
from ..models import BlockSource, SuspicionStatus, SuspiciousIP
from ..targets import parse_duration

logger = logging.getLogger(__name__)

ONE_CLICK_BLOCK = timedelta(hours=24)


def set_status(ips: list[str], status: str) -> None:
    """An operator's decision applies to every suspicion row of those IPs."""
    SuspiciousIP.objects.filter(ip_address__in=ips).update(status=status)


def block_flagged(ips: list[str], reason: str, duration: timedelta | None) -> None:
    """Block flagged IPs for duration (None: for good) and mark their rows blocked."""
    expires_at = timezone.now() + duration if duration is not None else None
    blocklist.block(ips, reason=reason, expires_at=expires_at)
    set_status(ips, SuspicionStatus.BLOCKED)


def auto_block(reasons: dict[str, list[str]]) -> list[str]:
    """Block flagged IPs (with the reasons they were flagged for) for
    SECURITY_AUTO_BLOCK_DURATION, unless already blocked."""
    ips = sorted(reasons)
    if not ips:
        return []
    active = NetworkSet(blocklist.active_blocks().values_list("ip_address", flat=True))
    new = [ip for ip in ips if ip not in active]
    if new:
        expires = timezone.now() + parse_duration(conf.AUTO_BLOCK_DURATION)
        for ip in new:
            blocklist.block(
                [ip],
                reason="automatic: " + ", ".join(sorted(set(reasons[ip]))),
                expires_at=expires,
                source=BlockSource.AUTOMATIC,
            )
        logger.warning("automatically blocked %d IPs: %s", len(new), ", ".join(new[:20]))
    SuspiciousIP.objects.filter(ip_address__in=ips, status=SuspicionStatus.NEW).update(
        status=SuspicionStatus.BLOCKED
    )
    return new
