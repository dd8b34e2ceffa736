"""Streaming detection: the drain hands over the rows it just stored, and offenders are flagged
(and, with SECURITY_AUTO_BLOCK, blocked) within seconds of their request.

Signature rules need nothing but the request. Counting rules keep per-IP windows in Redis:
one key per (rule, IP, window), a HyperLogLog of distinct values, all read and written in one
pipelined round trip per batch. With Redis away the counting rules wait for the hourly scan.
"""

import logging
from collections import defaultdict
from datetime import datetime

import msgpack
from django.contrib.auth import get_user_model
from redis.exceptions import RedisError

from ..conf import conf
from ..models import AllowedIP
from ..redis_client import get_redis
from ..requestlog.records import StoredRow
from . import exemptions, flags, prefixes, registry, verdicts
from .rule import CountingRule

logger = logging.getLogger(__name__)

WINDOW_KEY = "security:detect:w2:{reason}:{ip}:{bucket}"
WINDOW_KEYS = "security:detect:w2:*"


def window_address(key: str) -> str:
    """The address a WINDOW_KEY counts for (its key may be "address|more")."""
    _, _, rest = key.removeprefix("security:detect:w2:").partition(":")
    return rest.rpartition(":")[0].partition("|")[0]


def client(row: StoredRow) -> str:
    # Every rule sees candidates() only, and those all carry an address.
    return row.ip_address or ""


def candidates(rows: list[StoredRow]) -> list[StoredRow]:
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
    allowed = AllowedIP.objects.networks()
    exempt = exemptions.current()
    return [
        row
        for row in rows
        if row.user_id not in staff
        and client(row) not in allowed
        and not exempt.covers(client(row), row.user_agent)
    ]


def signature_flags(rows: list[StoredRow], enabled: set[str]) -> list[flags.Flag]:
    found: dict[tuple[str, str], flags.Flag] = {}
    for row in rows:
        signals = verdicts.signature_signals(
            row.path, row.query, row.user_agent, row.referer, row.method, row.status_code
        )
        for signal in signals:
            if signal.reason not in enabled:
                continue
            key = (client(row), signal.reason)
            if key not in found:
                found[key] = flags.Flag(client(row), signal.reason, signal.signature)
            found[key].add(row)
    return list(found.values())


# One round trip per batch: every window is updated and read server-side. Counting windows
# are INCRBY'd (each stored row is counted once: the drain hands over only new rows); distinct
# windows are HyperLogLogs. What each key gets, and the counts back, travel as one MessagePack
# value each: redis-py encoding thousands of arguments one by one was most of the round trip.
UPDATE_WINDOWS = """
local spec = cmsgpack.unpack(ARGV[1])
local result = {}
for k = 1, #KEYS do
  local ttl, value = spec[2 * k - 1], spec[2 * k]
  if type(value) == "number" then
    result[k] = redis.call("INCRBY", KEYS[k], value)
  else
    for i = 1, #value, 1000 do
      redis.call("PFADD", KEYS[k], unpack(value, i, math.min(i + 999, #value)))
    end
    result[k] = redis.call("PFCOUNT", KEYS[k])
  end
  redis.call("EXPIRE", KEYS[k], ttl)
end
return cmsgpack.pack(result)
"""

Window = tuple[str, str, int]  # reason, client (or client|path), bucket


def _windows(
    rows: list[StoredRow], active: dict[str, CountingRule]
) -> dict[Window, list[tuple[StoredRow, str]]]:
    groups: dict[Window, list[tuple[StoredRow, str]]] = defaultdict(list)
    sensitive = tuple(path.casefold() for path in conf.DETECT_SENSITIVE_PATHS)
    rules = [(reason, rule, rule.member, rule.window) for reason, rule in active.items()]
    for row in rows:
        second = int(row.timestamp.timestamp())
        is_sensitive = row.path.casefold().startswith(sensitive)
        for reason, rule, member_of, window in rules:
            member = member_of(row, is_sensitive)
            if member is not None:
                groups[(reason, rule.window_key(row), second // window)].append((row, member))
    return groups


def window_flags(rows: list[StoredRow], active: dict[str, CountingRule]) -> list[flags.Flag]:
    """Every counting rule's windows, in one round trip to Redis."""
    groups = _windows(rows, active)
    if not groups:
        return []
    keys: list[str] = []
    spec: list = []
    for (reason, key, bucket), members in groups.items():
        keys.append(WINDOW_KEY.format(reason=reason, ip=key, bucket=bucket))
        rule = active[reason]
        spec.append(rule.window * 2)
        if rule.distinct:
            # str(): a custom rule's member of another type must not fail the batch's pack.
            spec.append(list({str(member) for _row, member in members}))
        else:
            spec.append(len(members))
    packed = get_redis().register_script(UPDATE_WINDOWS)(keys=keys, args=[msgpack.packb(spec)])
    counts = msgpack.unpackb(packed)
    found = []
    for counted, ((reason, _key, _bucket), members) in zip(counts, groups.items(), strict=True):
        rule = active[reason]
        if counted < rule.threshold:
            continue
        key = prefixes.client_key(client(members[0][0]))
        within = f" from {key}" if "/" in key else ""
        flag = flags.Flag(
            client(members[0][0]),
            reason,
            f"{counted} {rule.describe} in {rule.window} s{within}",
        )
        for row, _member in members:
            flag.add(row)
        flag.requests = counted
        found.append(flag)
    return found


def evaluate(rows: list[StoredRow]) -> list[flags.Flag]:
    streaming = {reason: rule for reason, rule in registry.enabled().items() if rule.streaming}
    rows = candidates(rows)
    if not rows or not streaming:
        return []
    found = signature_flags(rows, set(streaming))
    windowed = registry.counting(streaming)
    try:
        found += window_flags(rows, windowed)
    except RedisError as error:
        logger.warning("streaming windows unavailable (%s); the hourly scan counts", error)
    return found


def detect(rows: list[StoredRow], now: datetime | None = None) -> list[flags.Flag]:
    """Flag what the rows show; never raises for a fault (the hourly scan catches up)."""
    found = evaluate(rows)
    if found:
        flags.record(found, detected_by="stream")
    return found
