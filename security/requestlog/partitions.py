"""PostgreSQL: RequestLog is partitioned by UTC day on its timestamp (migration 0008).

- A partition is named security_requestlog_pYYYYMMDD and holds [that day, the next day).
- security_requestlog_default holds rows of a day with no partition (a record minted on a host
  with a wrong clock, a day the scheduler did not look ahead to). The drain never runs DDL: a
  CREATE in its transaction would lock the parent against every other drain and reader.
- The hourly retention job (tasks.py) creates the next days' partitions ahead, moves rows
  found in the default into partitions of their own days, and drops whole partitions once
  their day is past the retention: a day partly inside it is kept until all of it is past.
- Every DDL here waits at most DDL_LOCK_TIMEOUT for its locks: behind a long dashboard query
  it gives up rather than stall the drains queued behind it, and the next hour tries again.

SQLite has one table and none of this (supported() is False there).
"""

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction

from ..models import RequestLog

logger = logging.getLogger("security.requestlog")

PREFIX = "p"
DEFAULT_SUFFIX = "default"
DDL_LOCK_TIMEOUT = "2s"
# A week: the hourly job can stop for days before a drain meets a day with no partition.
DAYS_AHEAD = 7


def parent() -> str:
    return RequestLog._meta.db_table


def supported() -> bool:
    """True where the log table is partitioned (PostgreSQL, after migration 0008)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [parent()]
        )
        return cursor.fetchone() is not None


def name_of(day: date) -> str:
    return f"{parent()}_{PREFIX}{day:%Y%m%d}"


def default_name() -> str:
    return f"{parent()}_{DEFAULT_SUFFIX}"


def day_of(name: str) -> date | None:
    stem = f"{parent()}_{PREFIX}"
    if not name.startswith(stem):
        return None
    try:
        return datetime.strptime(name[len(stem) :], "%Y%m%d").date()
    except ValueError:
        return None


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def existing_days() -> set[date]:
    """The days that have a partition of their own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [parent()],
        )
        return {day for (name,) in cursor.fetchall() if (day := day_of(name)) is not None}


def days_in_default() -> list[date]:
    """The UTC days of the rows in the default partition, one index probe per day (the
    default is nearly always empty)."""
    table = connection.ops.quote_name(default_name())
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE d(t) AS (
                SELECT min("timestamp") FROM {table}
                UNION ALL
                SELECT (SELECT min("timestamp") FROM {table}
                        WHERE "timestamp" >= date_trunc('day', d.t, 'UTC') + interval '1 day')
                FROM d WHERE d.t IS NOT NULL
            ) SELECT (t AT TIME ZONE 'UTC')::date FROM d WHERE t IS NOT NULL"""
        )
        return [day for (day,) in cursor.fetchall()]


def create(day: date) -> bool:
    """Give `day` its partition, moving its rows out of the default; False if it had one.

    The table is made apart and attached (ATTACH takes a lock that lets reads and inserts on
    the parent go on; CREATE ... PARTITION OF would block them); the default's rows of that
    day move in the same transaction, or the attach would refuse them."""
    if day in existing_days():
        return False
    table, quoted = name_of(day), connection.ops.quote_name(name_of(day))
    default = connection.ops.quote_name(default_name())
    start, end = start_of(day), start_of(day + timedelta(days=1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [DDL_LOCK_TIMEOUT])
        cursor.execute(
            f"CREATE TABLE {quoted} (LIKE {connection.ops.quote_name(parent())} "
            "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
        )
        # The bound as a CHECK first: ATTACH then trusts it instead of scanning the table.
        cursor.execute(
            f"ALTER TABLE {quoted} ADD CONSTRAINT {connection.ops.quote_name(table + '_bound')} "
            f'CHECK ("timestamp" >= %s AND "timestamp" < %s)',
            [start, end],
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} "
            f'WHERE "timestamp" >= %s AND "timestamp" < %s RETURNING *) '
            f"INSERT INTO {quoted} SELECT * FROM moved",
            [start, end],
        )
        moved = cursor.rowcount
        cursor.execute(
            f"ALTER TABLE {connection.ops.quote_name(parent())} ATTACH PARTITION {quoted} "
            "FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        cursor.execute(
            f"ALTER TABLE {quoted} DROP CONSTRAINT {connection.ops.quote_name(table + '_bound')}"
        )
    if moved:
        logger.warning("moved %d request log rows from the default partition to %s", moved, table)
    return True


def create_ahead(days: int, today: date | None = None) -> list[date]:
    """Partitions for today and the `days` after it; return the days given one."""
    today = today or datetime.now(UTC).date()
    return [day for offset in range(days + 1) if create(day := today + timedelta(days=offset))]


def rehome_default(keep_since: datetime) -> list[date]:
    """Give a partition to each day found in the default that is not wholly older than
    keep_since (older rows are the retention's to delete); return those days."""
    cutoff_day = keep_since.astimezone(UTC).date()
    return [day for day in days_in_default() if day >= cutoff_day and create(day)]


def drop_before(cutoff: datetime) -> list[date]:
    """Drop the partitions whose whole day is older than cutoff; return their days."""
    dropped = []
    for day in sorted(existing_days()):
        if start_of(day + timedelta(days=1)) > cutoff:
            continue
        quoted = connection.ops.quote_name(name_of(day))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [DDL_LOCK_TIMEOUT])
            cursor.execute(
                f"ALTER TABLE {connection.ops.quote_name(parent())} DETACH PARTITION {quoted}"
            )
            cursor.execute(f"DROP TABLE {quoted}")
        dropped.append(day)
    if dropped:
        logger.info(
            "dropped request log partitions %s", ", ".join(f"{day:%Y-%m-%d}" for day in dropped)
        )
    return dropped
