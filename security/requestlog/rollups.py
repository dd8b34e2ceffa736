"""Hourly rollups of request counts, kept up to date by the drain for the dashboard and the
analytics (analytics.py adds its dimensions to the same counts).

Each count lives in one of SHARDS rows per (hour, kind, key), and readers sum them. A drain's
transaction adds to a shard no other open transaction holds (a PostgreSQL advisory lock taken
without waiting), so drains never queue behind each other's row locks on the busy hourly rows,
and a worker cut off mid-transaction holds up no one: it only keeps its own shard locked until
PostgreSQL ends its session. Usually the first one or two shards are all that are used.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from ..models import RequestRollup, RollupKind
from . import pgcopy

KEY_LIMIT = RequestRollup._meta.get_field("key").max_length
UPSERT_CHUNK = 400
SHARDS = 32
INCOMING_TABLE = "security_rollup_incoming"
# The advisory lock space of rollup shards (any constant no other code of the site uses).
SHARD_LOCK_SPACE = 0x5EC0

RollupKey = tuple[datetime, str, str]


def count_rows(rows: Iterable) -> Counter[RollupKey]:
    # Keys are collected and counted in one C loop (Counter.update of a list): a Counter
    # increment per key per row, with the enum looked up each time, cost twice as much.
    total, status, country = (
        RollupKind.TOTAL.value,
        RollupKind.STATUS.value,
        RollupKind.COUNTRY.value,
    )
    ip, path, blocked = RollupKind.IP.value, RollupKind.PATH.value, RollupKind.BLOCKED.value
    keys: list[RollupKey] = []
    add = keys.append
    for row in rows:
        hour = row.timestamp.replace(minute=0, second=0, microsecond=0)
        add((hour, total, ""))
        add((hour, status, str(row.status_code)))
        add((hour, country, row.country_code))
        add((hour, ip, row.ip_address or ""))
        add((hour, path, row.path[:KEY_LIMIT]))
        if row.blocked:
            add((hour, blocked, ""))
    return Counter(keys)


def free_shard() -> int:
    """A shard this transaction now holds alone (0 on SQLite, where one writer runs at a time)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        # The LIMIT stops at the first lock taken: one round trip, at most one lock held.
        cursor.execute(
            "SELECT shard FROM generate_series(0, %s) AS shard "
            "WHERE pg_try_advisory_xact_lock(%s, shard) LIMIT 1",
            [SHARDS - 1, SHARD_LOCK_SPACE],
        )
        row = cursor.fetchone()
    if row:
        return row[0]
    # Every shard busy (more drains than shards): wait for the last one, at most the lock
    # time-out. Holding it, not only its rows, keeps the visitor sketches' read-modify-write
    # (sketches.py) to one transaction at a time.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SHARD_LOCK_SPACE, SHARDS - 1])
    return SHARDS - 1


def add(counts: Counter[RollupKey], shard: int | None = None) -> None:
    """Add counts to the rollups, in `shard` (taken by free_shard() in this transaction) or a
    free one. Call inside the transaction that stored the counted rows."""
    if not counts:
        return
    if shard is None:
        shard = free_shard()
    if pgcopy.available():
        _add_by_copy(counts, shard)
    else:
        _add_by_values(counts, shard)


def _upsert_tail() -> str:
    table = connection.ops.quote_name(RequestRollup._meta.db_table)
    count = connection.ops.quote_name("count")
    return (
        'ON CONFLICT ("hour", "kind", "key", "shard") DO UPDATE SET '
        f"{count} = {table}.{count} + excluded.{count}"
    )


def _add_by_copy(counts: Counter[RollupKey], shard: int) -> None:
    table = connection.ops.quote_name(RequestRollup._meta.db_table)
    rows = ((hour, kind, key, count) for (hour, kind, key), count in counts.items())
    with connection.cursor() as cursor:
        pgcopy.copy_into_temporary(
            cursor, INCOMING_TABLE, table, ("hour", "kind", "key", "count"), rows
        )
        # Sorted: two drains sharing a shard (more drains than shards) lock rows in one order.
        cursor.execute(
            f'INSERT INTO {table} ("hour", "kind", "key", "shard", "count") '
            f'SELECT "hour", "kind", "key", %s, "count" FROM {INCOMING_TABLE} '
            f'ORDER BY "hour", "kind", "key" {_upsert_tail()}',
            [shard],
        )


def _add_by_values(counts: Counter[RollupKey], shard: int) -> None:
    table = connection.ops.quote_name(RequestRollup._meta.db_table)
    items = list(counts.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), UPSERT_CHUNK):
            chunk = items[start : start + UPSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
            params: list = []
            for (hour, kind, key), count in chunk:
                params += [connection.ops.adapt_datetimefield_value(hour), kind, key, shard, count]
            cursor.execute(
                f'INSERT INTO {table} ("hour", "kind", "key", "shard", "count") '
                f"VALUES {values} {_upsert_tail()}",
                params,
            )


def delete_old_rollups(days: int) -> int:
    cutoff = timezone.now() - timedelta(days=days)
    return RequestRollup.objects.filter(hour__lt=cutoff).delete()[0]
