"""PostgreSQL: security_requestlog becomes a table partitioned by UTC day on "timestamp"
(security/requestlog/partitions.py keeps it up). SQLite is left as it is.

The rows are copied in one transaction, under an exclusive lock: the table is unreadable and
unwritable meanwhile (the drains wait; records stay in the Redis stream). docs/deployment.md
gives the time it takes per million rows. The primary key becomes (id, timestamp) and the
drain's unique key (record_id, timestamp): a partitioned table's unique keys must hold the
partition key. Django's model state is unchanged, so a later AddField on RequestLog is an
ALTER TABLE on the parent, which PostgreSQL applies to every partition.

Written on its own (no import of the app's code) so that it runs the same whatever the app
becomes. scripts/bench/bench_partitions.py times `rebuild` on generated rows.
"""

from datetime import UTC, date, datetime, timedelta

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import CursorWrapper
from django.db.migrations.state import StateApps

TABLE = "security_requestlog"
UNIQUE_PARTITIONED = "reqlog_record_time_uniq"
UNIQUE_PLAIN = "security_requestlog_record_id_key"
DAYS_AHEAD = 7


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def days_with_rows(cursor: CursorWrapper) -> list[date]:
    """One index probe per day (on reqlog_time), not a scan of the whole table."""
    cursor.execute(
        f"""WITH RECURSIVE d(t) AS (
            SELECT min("timestamp") FROM {TABLE}
            UNION ALL
            SELECT (SELECT min("timestamp") FROM {TABLE}
                    WHERE "timestamp" >= date_trunc('day', d.t, 'UTC') + interval '1 day')
            FROM d WHERE d.t IS NOT NULL
        ) SELECT (t AT TIME ZONE 'UTC')::date FROM d WHERE t IS NOT NULL"""
    )
    return [day for (day,) in cursor.fetchall()]


def create_partitions(cursor: CursorWrapper, days: set[date]) -> None:
    for day in sorted(days):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        cursor.execute(
            f"CREATE TABLE {quote(f'{TABLE}_p{day:%Y%m%d}')} PARTITION OF {TABLE} "
            "FOR VALUES FROM (%s) TO (%s)",
            [start, start + timedelta(days=1)],
        )
    cursor.execute(f"CREATE TABLE {quote(TABLE + '_default')} PARTITION OF {TABLE} DEFAULT")


def rebuild(cursor: CursorWrapper, partitioned: bool, today: date | None = None) -> None:
    """Copy security_requestlog into a new table, partitioned by day or not, with the same
    columns, checks, identity sequence position and indexes (the keys adapted)."""
    aside = f"{TABLE}_{'unpartitioned' if partitioned else 'partitioned'}"
    cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisunique",
        [TABLE],
    )
    indexes = cursor.fetchall()
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    (sequence,) = cursor.fetchone()
    cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
    position = cursor.fetchone()
    days = set(days_with_rows(cursor)) if partitioned else set()

    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {aside}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {aside}_id_seq")
    cursor.execute(f"ALTER TABLE {aside} RENAME CONSTRAINT {TABLE}_pkey TO {aside}_pkey")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {quote(name)}")
    cursor.execute(
        f"CREATE TABLE {TABLE} (LIKE {aside} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS)"
        + (' PARTITION BY RANGE ("timestamp")' if partitioned else "")
    )
    if partitioned:
        today = today or datetime.now(UTC).date()
        create_partitions(cursor, days | {today + timedelta(days=n) for n in range(DAYS_AHEAD + 1)})
    cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {aside}")
    cursor.execute(f"DROP TABLE {aside}")
    cursor.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [TABLE, *position])
    # Keys and indexes after the copy: built once per partition rather than row by row.
    if partitioned:
        cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, "timestamp")')
        cursor.execute(
            f'ALTER TABLE {TABLE} ADD CONSTRAINT {UNIQUE_PARTITIONED} UNIQUE (record_id, "timestamp")'
        )
    else:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {UNIQUE_PLAIN} UNIQUE (record_id)")
    for _name, definition in indexes:
        cursor.execute(definition.replace(" ON ONLY ", " ON "))


def partition(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        rebuild(cursor, partitioned=True)


def unpartition(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        rebuild(cursor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("security", "0007_analytics_rollups_visitor_sketches"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
