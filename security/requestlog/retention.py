"""Rows older than the retention go: on SQLite in bounded batches of DELETEs; on PostgreSQL,
where the table is partitioned by day (partitions.py), a day goes as a whole partition once
all of it is past the retention (so a row stays up to a day longer than the retention), and
only the default partition's old rows are deleted in batches."""

from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from ..models import RequestLog
from . import partitions


def delete_old_logs(days: int, batch_size: int = 10_000) -> int:
    """Return the number of rows deleted in batches (dropped partitions are logged)."""
    cutoff = timezone.now() - timedelta(days=days)
    if partitions.supported():
        partitions.drop_before(cutoff)
        return _delete_from_default(cutoff, batch_size)
    deleted = 0
    while True:
        ids = list(
            RequestLog.objects.filter(timestamp__lt=cutoff)
            .order_by()
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += RequestLog.objects.filter(id__in=ids).delete()[0]


def _delete_from_default(cutoff: datetime, batch_size: int) -> int:
    table = connection.ops.quote_name(partitions.default_name())
    deleted = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                f'SELECT ctid FROM {table} WHERE "timestamp" < %s LIMIT %s))',
                [cutoff, batch_size],
            )
            if not cursor.rowcount:
                return deleted
            deleted += cursor.rowcount


def prepare_partitions(days: int, ahead: int = partitions.DAYS_AHEAD) -> None:
    """PostgreSQL: the next `ahead` days' partitions, and partitions for the days whose rows
    landed in the default (those the retention keeps)."""
    if not partitions.supported():
        return
    partitions.create_ahead(ahead)
    partitions.rehome_default(timezone.now() - timedelta(days=days))
