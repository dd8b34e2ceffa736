"""Hourly rollups of request counts, kept up to date by the drain for the dashboard."""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from ..models import RequestLog, RequestRollup, RollupKind

KEY_LIMIT = RequestRollup._meta.get_field("key").max_length
UPSERT_CHUNK = 400

RollupKey = tuple[datetime, str, str]


def count_rows(rows: Iterable[RequestLog]) -> Counter[RollupKey]:
    counts: Counter[RollupKey] = Counter()
    for row in rows:
        hour = row.timestamp.replace(minute=0, second=0, microsecond=0)
        counts[(hour, RollupKind.TOTAL, "")] += 1
        counts[(hour, RollupKind.STATUS, str(row.status_code))] += 1
        counts[(hour, RollupKind.COUNTRY, row.country_code)] += 1
        counts[(hour, RollupKind.IP, row.ip_address or "")] += 1
        counts[(hour, RollupKind.PATH, row.path[:KEY_LIMIT])] += 1
        if row.blocked:
            counts[(hour, RollupKind.BLOCKED, "")] += 1
    return counts


def add(counts: Counter[RollupKey]) -> None:
    """Add counts to the rollups: one INSERT ... ON CONFLICT per chunk, on SQLite and PostgreSQL."""
    table = connection.ops.quote_name(RequestRollup._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in ("hour", "kind", "key", "count"))
    conflict = ", ".join(connection.ops.quote_name(c) for c in ("hour", "kind", "key"))
    quoted_count = connection.ops.quote_name("count")
    items = list(counts.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), UPSERT_CHUNK):
            chunk = items[start : start + UPSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            params: list = []
            for (hour, kind, key), count in chunk:
                params += [connection.ops.adapt_datetimefield_value(hour), kind, key, count]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET "
                f"{quoted_count} = {table}.{quoted_count} + excluded.{quoted_count}",
                params,
            )


def delete_old_rollups(days: int) -> int:
    cutoff = timezone.now() - timedelta(days=days)
    return RequestRollup.objects.filter(hour__lt=cutoff).delete()[0]
