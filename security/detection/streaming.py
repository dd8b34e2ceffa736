"""Streaming detection: the drain hands over the rows it just stored, and offenders are flagged
(and, with SECURITY_AUTO_BLOCK, blocked) within seconds of their request.

Signature rules need nothing but the request. Counting rules keep per-IP windows in Redis:
one key per (rule, IP, window), a HyperLogLog of distinct values, all read and written in one
pipelined round trip per batch. With Redis away the counting rules wait for the hourly scan.
"""

import logging
from collections import defaultdict
from datetime import datetime

from django.contrib.auth import get_user_model
from redis.exceptions import RedisError

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


def not_found_flags(rows: list[RequestLog], rule: rules.Rule) -> list[flags.Flag]:
    misses: dict[tuple[str, int], list[RequestLog]] = defaultdict(list)
    for row in rows:
        if row.status_code == 404 and not rules.is_static_asset(row.path):
            bucket = int(row.timestamp.timestamp()) // rule.window
            misses[(row.ip_address, bucket)].append(row)
    if not misses:
        return []
    pipe = get_redis().pipeline(transaction=False)
    keys = []
    for (ip, bucket), group in misses.items():
        key = WINDOW_KEY.format(reason=rule.reason, ip=ip, bucket=bucket)
        keys.append(((ip, bucket), key))
        pipe.pfadd(key, *{row.path for row in group})
        pipe.expire(key, rule.window * 2)
        pipe.pfcount(key)
    answers = pipe.execute()
    found = []
    for index, ((ip, bucket), _key) in enumerate(keys):
        distinct = answers[index * 3 + 2]
        if distinct >= rule.threshold:
            flag = flags.Flag(ip, rule.reason, f"{distinct} distinct paths answered 404 in "
                              f"{rule.window} s")  # fmt: skip
            for row in misses[(ip, bucket)]:
                flag.add(row)
            flag.requests = distinct
            found.append(flag)
    return found


def evaluate(rows: list[RequestLog]) -> list[flags.Flag]:
    active = {reason: rule for reason, rule in rules.rules().items() if rule.enabled}
    streaming = {reason for reason, rule in active.items() if rule.streaming}
    rows = candidates(rows)
    if not rows or not streaming:
        return []
    found = signature_flags(rows, streaming)
    if SuspicionReason.NOT_FOUND in streaming:
        try:
            found += not_found_flags(rows, active[SuspicionReason.NOT_FOUND])
        except RedisError as error:
            logger.warning("streaming 404 windows unavailable (%s); the hourly scan counts", error)
    return found


def detect(rows: list[RequestLog], now: datetime | None = None) -> list[flags.Flag]:
    """Flag what the rows show; never raises for a fault (the hourly scan catches up)."""
    found = evaluate(rows)
    if found:
        flags.record(found, detected_by="stream")
    return found
