"""Streaming detection: the drain hands over the rows it just stored, and offenders are flagged
(and, with SECURITY_AUTO_BLOCK, blocked) within seconds of their request.

Signature rules need nothing but the request. Counting rules keep per-IP windows in Redis:
one key per (rule, IP, window), a HyperLogLog of distinct values, all read and written in one
pipelined round trip per batch. With Redis away the counting rules wait for the hourly scan.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth import get_user_model
from redis.exceptions import RedisError

from ..conf import conf
from ..matcher import NetworkSet
from ..models import AllowedIP, RequestLog, SuspicionReason
from ..redis_client import get_redis
from . import flags, rules

logger = logging.getLogger(__name__)

WINDOW_KEY = "security:detect:{reason}:{ip}:{bucket}"


def candidates(rows: list[RequestLog]) -> list[RequestLog]:
    """Rows that may count: not turned away, not staff, not allowlisted."""
    rows = [row for row in rows if row.ip_address and not row.blocked]
    if not rows:
        return []
    user_ids = {row.user_id for row in rows if row.user_id is not None}
    staff = set()
    if user_ids:
        staff = set(
            get_user_model()
            .objects.filter(pk__in=user_ids, is_staff=True)
            .values_list("pk", flat=True)
        )
    allowed = NetworkSet(AllowedIP.objects.values_list("ip_address", flat=True))
    return [row for row in rows if row.user_id not in staff and row.ip_address not in allowed]


def signature_flags(rows: list[RequestLog], enabled: set[str]) -> list[flags.Flag]:
    found: dict[tuple[str, str], flags.Flag] = {}
    for row in rows:
        for signal in rules.signature_signals(row.path, row.query, row.user_agent):
            if signal.reason not in enabled:
                continue
            key = (row.ip_address, signal.reason)
            if key not in found:
                found[key] = flags.Flag(row.ip_address, signal.reason, signal.signature)
            found[key].add(row)
    return list(found.values())


# Counting rules: what one request adds to a window (None: nothing) and what the window is
# kept per (the client, or the client and the path).
Member = Callable[[RequestLog], str | None]


def _anonymous(row: RequestLog) -> bool:
    return row.user_id is None


def _sensitive(row: RequestLog) -> bool:
    return row.path.casefold().startswith(tuple(p.casefold() for p in conf.DETECT_SENSITIVE_PATHS))


WINDOWED: dict[str, tuple[Member, Callable[[RequestLog], str]]] = {
    SuspicionReason.NOT_FOUND: (
        lambda r: r.path if r.status_code == 404 and not rules.is_static_asset(r.path) else None,
        lambda r: r.ip_address,
    ),
    SuspicionReason.RATE_LIMITED: (
        lambda r: str(r.record_id) if r.status_code == 429 else None,
        lambda r: r.ip_address,
    ),
    SuspicionReason.SENSITIVE: (
        lambda r: str(r.record_id) if _sensitive(r) else None,
        lambda r: r.ip_address,
    ),
    SuspicionReason.HIGH_VOLUME: (
        lambda r: str(r.record_id) if _anonymous(r) else None,
        lambda r: r.ip_address,
    ),
    SuspicionReason.CACHE_BUSTING: (
        lambda r: r.query if r.query and _anonymous(r) else None,
        lambda r: f"{r.ip_address}|{r.path[:200]}",
    ),
    # Rotating user agents on the ways in, or on refused requests: an office behind one NAT
    # browsing ordinary pages is many browsers, not one client in disguise.
    SuspicionReason.UA_ROTATION: (
        lambda r: (
            r.user_agent if _anonymous(r) and (r.status_code >= 400 or _sensitive(r)) else None
        ),
        lambda r: r.ip_address,
    ),
}
DESCRIBE = {
    SuspicionReason.NOT_FOUND: "distinct paths answered 404",
    SuspicionReason.RATE_LIMITED: "answers 429",
    SuspicionReason.SENSITIVE: "requests to sensitive paths",
    SuspicionReason.HIGH_VOLUME: "requests",
    SuspicionReason.CACHE_BUSTING: "distinct query strings on one path",
    SuspicionReason.UA_ROTATION: "distinct user agents",
}


def window_flags(rows: list[RequestLog], active: dict[str, rules.Rule]) -> list[flags.Flag]:
    """Every counting rule's windows, in one pipelined round trip to Redis."""
    groups: dict[tuple[str, str, int], list[tuple[RequestLog, str]]] = defaultdict(list)
    for reason, (member_of, key_of) in WINDOWED.items():
        rule = active.get(reason)
        if rule is None:
            continue
        for row in rows:
            member = member_of(row)
            if member is not None:
                bucket = int(row.timestamp.timestamp()) // rule.window
                groups[(reason, key_of(row), bucket)].append((row, member))
    if not groups:
        return []
    pipe = get_redis().pipeline(transaction=False)
    for (reason, key, bucket), members in groups.items():
        name = WINDOW_KEY.format(reason=reason, ip=key, bucket=bucket)
        pipe.pfadd(name, *{member for _row, member in members})
        pipe.expire(name, active[reason].window * 2)
        pipe.pfcount(name)
    answers = pipe.execute()
    found = []
    for index, ((reason, _key, _bucket), members) in enumerate(groups.items()):
        counted = answers[index * 3 + 2]
        rule = active[reason]
        if counted < rule.threshold:
            continue
        first = members[0][0]
        flag = flags.Flag(
            first.ip_address, reason, f"{counted} {DESCRIBE[reason]} in {rule.window} s"
        )
        for row, _member in members:
            flag.add(row)
        flag.requests = counted
        found.append(flag)
    return found


def evaluate(rows: list[RequestLog]) -> list[flags.Flag]:
    active = {reason: rule for reason, rule in rules.rules().items() if rule.enabled}
    streaming = {reason for reason, rule in active.items() if rule.streaming}
    rows = candidates(rows)
    if not rows or not streaming:
        return []
    found = signature_flags(rows, streaming)
    windowed = {reason: active[reason] for reason in streaming if reason in WINDOWED}
    try:
        found += window_flags(rows, windowed)
    except RedisError as error:
        logger.warning("streaming windows unavailable (%s); the hourly scan counts", error)
    return found


def detect(rows: list[RequestLog], now: datetime | None = None) -> list[flags.Flag]:
    """Flag what the rows show; never raises for a fault (the hourly scan catches up)."""
    found = evaluate(rows)
    if found:
        flags.record(found, detected_by="stream")
    return found
