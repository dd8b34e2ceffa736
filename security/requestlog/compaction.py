"""Daily rollups of the many-keyed analytics dimensions (paths, cities, referring sites,
addresses), summed from their hourly rows once a UTC day is over, so that a month's tables read
thirty rows a key instead of 720. Runs with the hourly retention job.

One row (RollupCompaction) says up to which day the daily rows exist; readers take whole days
before it from the daily rows and everything after from the hourly ones. A record stored late
(a stream held through an outage) for a day already compacted is counted into the daily rows by
the drain itself (analytics.count's daily_before), which reads the mark after taking its shard
lock. Compaction holds every shard lock while it moves the mark, so no drain is between
reading the mark and committing its counts: each count lands in exactly one of the two.
"""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from ..models import RequestRollup, RollupCompaction, RollupKind
from . import analytics, rollups

DAY = timedelta(days=1)
# A day is compacted once it has been over this long (records still in flight by then are
# counted into the daily rows by the drain).
SETTLE = timedelta(hours=1)
# A site upgraded with months of hourly rollups catches up a week an hour.
MOST_DAYS_A_RUN = 7
HOURLY_KINDS = [
    analytics.kind(name, own) for name in analytics.DAILY if name != "host" for own in (False, True)
] + [RollupKind.O_HOST]


def daily_until() -> datetime | None:
    mark = RollupCompaction.objects.order_by("pk").values_list("daily_until", flat=True).first()
    return mark


def _lock_every_shard() -> None:
    if connection.vendor != "postgresql":
        return  # SQLite: the mark's UPDATE below takes the one write lock, drains wait for it
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, shard) FROM generate_series(0, %s) AS shard",
            [rollups.SHARD_LOCK_SPACE, rollups.SHARDS - 1],
        )


def _first_hourly_day() -> datetime | None:
    first = (
        RequestRollup.objects.filter(kind__in=[*HOURLY_KINDS, RollupKind.IP])
        .order_by("hour")
        .values_list("hour", flat=True)
        .first()
    )
    return first.replace(hour=0) if first else None


def _sum_day(day: datetime) -> None:
    table = connection.ops.quote_name(RequestRollup._meta.db_table)
    count = connection.ops.quote_name("count")
    upsert = (
        'ON CONFLICT ("hour", "kind", "key", "shard") DO UPDATE SET '
        f"{count} = {table}.{count} + excluded.{count}"
    )
    hour = connection.ops.adapt_datetimefield_value
    kinds = ", ".join(["%s"] * len(HOURLY_KINDS))
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} ("hour", "kind", "key", "shard", {count}) '
            f'SELECT %s, "kind" || \':d\', "key", 0, SUM({count}) FROM {table} '
            f'WHERE "kind" IN ({kinds}) AND "hour" >= %s AND "hour" < %s '
            f'GROUP BY "kind", "key" {upsert}',
            [hour(day), *HOURLY_KINDS, hour(day), hour(day + DAY)],
        )
        # Visitors' addresses: every request (IP) less the own traffic's.
        cursor.execute(
            f'INSERT INTO {table} ("hour", "kind", "key", "shard", {count}) '
            f'SELECT %s, %s, "key", 0, SUM(CASE WHEN "kind" = %s THEN -{count} ELSE {count} END) '
            f'FROM {table} WHERE "kind" IN (%s, %s) AND "hour" >= %s AND "hour" < %s '
            f'GROUP BY "key" HAVING SUM(CASE WHEN "kind" = %s THEN -{count} ELSE {count} END) > 0 '
            f"{upsert}",
            [
                hour(day),
                RollupKind.V_HOST_DAY,
                RollupKind.O_HOST,
                RollupKind.IP,
                RollupKind.O_HOST,
                hour(day),
                hour(day + DAY),
                RollupKind.O_HOST,
            ],
        )


def compact(now: datetime | None = None, most: int = MOST_DAYS_A_RUN) -> int:
    """Sum finished days not compacted yet into their daily rows, one transaction a day (each
    holds up the drains for the few milliseconds of one day's sums); return the days done."""
    now = now or timezone.now()
    target = (now - SETTLE).replace(hour=0, minute=0, second=0, microsecond=0)
    done = 0
    while done < most:
        with transaction.atomic():
            mark = RollupCompaction.objects.select_for_update().order_by("pk").first()
            if mark is None:
                mark = RollupCompaction(daily_until=_first_hourly_day() or target)
            if mark.daily_until >= target:
                mark.save()
                return done
            day = mark.daily_until
            mark.daily_until = day + DAY
            mark.save()  # SQLite: takes the one write lock before anything is read
            _lock_every_shard()
            _sum_day(day)
        done += 1
    return done
