"""PostgreSQL's request log partitioned by day: retention drops whole days, the hourly job
makes the days ahead, a record of a day with no partition is stored once all the same, and
migration 0008 turns an unpartitioned table into a partitioned one without losing a row."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from security import tasks
from security.models import RequestLog
from security.requestlog import drain, partitions, records
from tests.conftest import publish_records

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="partitioning is PostgreSQL's (SQLite keeps one table, tested in test_requestlog)",
    ),
]


def record_at(moment: datetime, path: str = "/") -> records.Record:
    return records.Record(uuid.uuid4().hex, moment.timestamp(), "198.51.100.7", "GET", path, 200)


def rows_at(*moments: datetime) -> list[RequestLog]:
    rows = [records.to_model(record_at(moment)) for moment in moments]
    return RequestLog.objects.bulk_create(rows)


def tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'security_requestlog'::regclass"
        )
        return {name for (name,) in cursor.fetchall()}


def rows_in(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def test_retention_drops_the_days_past_it_and_keeps_every_newer_row(settings):
    settings.SECURITY_LOG_RETENTION_DAYS = 7
    now = timezone.now()
    cutoff = now - timedelta(days=7)
    old_days = [(cutoff - timedelta(days=n)).date() for n in (3, 2, 1)]
    for day in old_days:  # made ahead, back then
        partitions.create(day)
    old = rows_at(*(partitions.start_of(day) + timedelta(hours=5) for day in old_days))
    # Older than the retention, but its day is not all past it yet: kept until it is.
    day_start = partitions.start_of(cutoff.date())
    (boundary,) = rows_at(day_start + (cutoff - day_start) / 2)
    # A straggler in the default partition, older than the retention: deleted on its own.
    (stray,) = rows_at(now - timedelta(days=40))
    recent = rows_at(now - timedelta(days=6), now - timedelta(days=1), now)
    kept = {row.record_id: row.path for row in recent}

    tasks.delete_old_request_logs()

    left = set(tables())
    assert not {partitions.name_of(day) for day in old_days} & left  # dropped, not emptied
    assert not RequestLog.objects.filter(pk__in=[row.pk for row in old + [stray]]).exists()
    assert (
        dict(RequestLog.objects.filter(record_id__in=kept).values_list("record_id", "path")) == kept
    )
    assert RequestLog.objects.filter(pk=boundary.pk).exists()
    assert RequestLog.objects.count() == len(recent) + 1


def test_the_hourly_job_makes_the_week_ahead(settings):
    week_ahead = datetime.now(UTC).date() + timedelta(days=partitions.DAYS_AHEAD)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {partitions.name_of(week_ahead)}")
    assert partitions.name_of(week_ahead) not in tables()
    tasks.delete_old_request_logs()
    assert partitions.name_of(week_ahead) in tables()
    rows_at(partitions.start_of(week_ahead) + timedelta(hours=1))
    assert rows_in(partitions.name_of(week_ahead)) == 1


def test_a_record_of_a_day_with_no_partition_is_stored_once_before_and_after_its_day_is_made():
    far = timezone.now() + timedelta(days=partitions.DAYS_AHEAD + 20)  # a host's clock astray
    assert far.date() not in partitions.existing_days()
    batch = [record_at(far, "/astray/") for _ in range(5)]
    publish_records(batch)
    assert drain.drain() == 5
    assert rows_in(partitions.default_name()) == 5
    publish_records(batch)  # delivered again (a retried batch)
    drain.drain()
    assert RequestLog.objects.filter(path="/astray/").count() == 5

    tasks.delete_old_request_logs()  # gives the day its partition and moves its rows
    assert rows_in(partitions.default_name()) == 0
    assert rows_in(partitions.name_of(far.date())) == 5
    publish_records(batch)
    drain.drain()
    assert RequestLog.objects.filter(path="/astray/").count() == 5
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {partitions.name_of(far.date())}")


def test_migrating_an_unpartitioned_log_keeps_every_row_and_its_id():
    call_command("migrate", "security", "0007", verbosity=0)
    assert not partitions.supported()
    now = timezone.now()
    moments = [now - timedelta(days=days, hours=hours) for days in (0, 2, 5) for hours in (1, 2)]
    before = {row.pk: row.record_id for row in rows_at(*moments)}
    call_command("migrate", "security", verbosity=0)

    assert partitions.supported()
    assert dict(RequestLog.objects.values_list("pk", "record_id")) == before
    assert {moment.astimezone(UTC).date() for moment in moments} <= partitions.existing_days()
    assert rows_in(partitions.default_name()) == 0
    (new,) = rows_at(now)
    assert new.pk > max(before)  # the id sequence carried on
