"""Records -> RequestLog rows: geolocate each address once, insert what is new, count it.

Written so that one worker cut off mid-transaction never stops the others, and nothing is
counted twice:
- the transaction is short (geolocation happens before it) and bounded by PostgreSQL time-outs
  (per statement, per lock wait, idle in transaction), so the locks of a worker that hangs or
  dies are gone within seconds rather than when a TCP connection finally breaks;
- rows go in with INSERT ... ON CONFLICT DO NOTHING RETURNING, and only the rows this
  transaction actually inserted are counted: a record stored by two drains (one of them cut
  off, the other claiming its entries) is one row and one count, whichever commits first;
- rollups and visitor sketches go to a shard no other open transaction holds (rollups.py,
  sketches.py).
On PostgreSQL (psycopg 3) rows and counts reach the server through COPY (pgcopy.py).
"""

import threading

from django.db import connection, transaction
from redis.exceptions import RedisError

from .. import erasure
from ..conf import conf
from ..models import RequestLog
from . import analytics, compaction, pgcopy, records, rollups, sketches
from .records import STORED_COLUMNS, StoredRow

INCOMING_TABLE = "security_requestlog_incoming"
# The advisory lock a drain shares and forget_ip takes alone (privacy.forget).
ERASURE_LOCK_SPACE = 0x5EC1
INSERT_CHUNK = 500

# The session and start of this thread's drain transaction while it is open (PostgreSQL).
_open_transaction = threading.local()


def geolocate_records(batch: list[records.Record], use_network: bool) -> dict[str, records.Place]:
    # Imported here: geolocation pulls in geoip2 and requests, which the web processes need
    # only on the rare direct write.
    from ..geo import lookup_many

    ips = {record.ip for record in batch if record.ip}
    return {ip: result.as_place() for ip, result in lookup_many(ips, use_network).items()}


def store_records(batch: list[records.Record], use_network: bool = True) -> int:
    return len(store_new_rows(batch, use_network))


def store_new_rows(batch: list[records.Record], use_network: bool = True) -> list[StoredRow]:
    """Insert the records not stored yet, count only those into the rollups, return them."""
    geo = geolocate_records(batch, use_network)
    rows: dict = {}
    for record in batch:
        row = records.to_row(record, geo.get(record.ip or ""))
        rows[row.record_id] = row
    if not rows:
        return []
    end_abandoned_transaction()
    with transaction.atomic():
        bound_transaction()
        hold_off_erasure()
        inserted = insert_new(list(rows.values()))
        new = without_erased([row for row in rows.values() if row.record_id in inserted])
        # The shard first: holding it, this transaction reads a compaction mark that cannot
        # move before it commits (compaction.py).
        if new:
            shard = rollups.free_shard()
            counts = rollups.count_rows(new)
            visitors = analytics.count_rows(new, counts, compaction.daily_until())
            rollups.add(counts, shard)
            sketches.add(visitors, shard)
    if not connection.in_atomic_block:  # committed, not only a savepoint released
        _open_transaction.session = None
    return new


def hold_off_erasure() -> None:
    """PostgreSQL: forget_ip waits for drains already under way (it takes this lock alone),
    so a record it erased cannot be committed behind its back. SQLite has one writer."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, 0)", [ERASURE_LOCK_SPACE])


def without_erased(new: list[StoredRow]) -> list[StoredRow]:
    """Rows of addresses forgotten lately (records that were in flight) are deleted again in
    this transaction, before anything counts them."""
    try:
        erased = erasure.erased_networks()
    except RedisError:
        return new  # written straight to the database while Redis is away
    if erased is None:
        return new
    doomed = [row.record_id for row in new if row.ip_address and row.ip_address in erased]
    if not doomed:
        return new
    RequestLog.objects.filter(record_id__in=doomed).delete()
    gone = set(doomed)
    return [row for row in new if row.record_id not in gone]


def bound_transaction() -> None:
    """PostgreSQL time-outs for this transaction only: a statement, a lock wait, and the time
    the server waits on a client that went silent mid-transaction (a cut or dead host)."""
    if connection.vendor != "postgresql":
        return
    limit = f"{int(conf.DRAIN_TRANSACTION_TIMEOUT * 1000)}ms"
    lock_wait = f"{int(conf.DRAIN_LOCK_TIMEOUT * 1000)}ms"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true), "
            "set_config('idle_in_transaction_session_timeout', %s, true), "
            "pg_backend_pid(), now()",
            [limit, lock_wait, limit],
        )
        _open_transaction.session = cursor.fetchone()[3:]


def end_abandoned_transaction() -> None:
    """End the session of this thread's last drain transaction if it never finished (its
    client lost the connection mid-way), so that its locks go now rather than when PostgreSQL
    notices. The start time tells that session from a later one that reused its pid. A
    DatabaseError (the database still unreachable) leaves it for the next attempt."""
    if connection.in_atomic_block:
        return  # inside someone's transaction (tests), never ours to end
    session = getattr(_open_transaction, "session", None)
    if session is None or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid = %s AND xact_start = %s AND pid <> pg_backend_pid()",
            list(session),
        )
    _open_transaction.session = None


def insert_new(rows: list[StoredRow]) -> set:
    """Insert rows whose record_id is not stored yet; return the record_ids inserted (as in
    StoredRow: 32 hex digits).

    ON CONFLICT names no key: on PostgreSQL the log may be partitioned by day (partitions.py)
    or not (before migration 0008, or put back), and a partitioned table's unique key is
    (record_id, timestamp). A record keeps its timestamp however often it is delivered, so
    either key stores it once; the only other unique key is the id the table assigns."""
    if pgcopy.available():
        return _insert_by_copy(rows)
    return _insert_by_values(rows)


def _insert_by_copy(rows: list[StoredRow]) -> set:
    table = connection.ops.quote_name(RequestLog._meta.db_table)
    with connection.cursor() as cursor:
        columns = pgcopy.copy_into_temporary(cursor, INCOMING_TABLE, table, STORED_COLUMNS, rows)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {INCOMING_TABLE} "
            # As text in StoredRow's form: loading a UUID object for each cost more than the INSERT.
            "ON CONFLICT DO NOTHING RETURNING replace(record_id::text, '-', '')"
        )
        return {record_id for (record_id,) in cursor.fetchall()}


def _insert_by_values(rows: list[StoredRow]) -> set:
    table = connection.ops.quote_name(RequestLog._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in STORED_COLUMNS)
    by_column = {field.attname: field for field in RequestLog._meta.concrete_fields}
    fields = [by_column[name] for name in STORED_COLUMNS]
    record_id = RequestLog._meta.get_field("record_id")
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted: set = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            params: list = []
            for row in chunk:
                params += [
                    field.get_db_prep_save(value, connection)
                    for field, value in zip(fields, row, strict=True)
                ]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(chunk))} "
                "ON CONFLICT DO NOTHING RETURNING record_id",
                params,
            )
            inserted.update(record_id.to_python(value).hex for (value,) in cursor.fetchall())
    return inserted
