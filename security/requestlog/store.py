"""Records -> RequestLog rows: geolocate each address once, insert what is new, count it.

Written so that one worker cut off mid-transaction never stops the others, and nothing is
counted twice:
- the transaction is short (geolocation happens before it) and bounded by PostgreSQL time-outs
  (per statement, per lock wait, idle in transaction), so the locks of a worker that hangs or
  dies are gone within seconds rather than when a TCP connection finally breaks;
- rows go in with INSERT ... ON CONFLICT DO NOTHING RETURNING, and only the rows this
  transaction actually inserted are counted: a record stored by two drains (one of them cut
  off, the other claiming its entries) is one row and one count, whichever commits first;
- rollups go to a shard no other open transaction holds (rollups.py).
On PostgreSQL (psycopg 3) rows and counts reach the server through COPY (pgcopy.py).
"""

from django.db import connection, transaction

from ..conf import conf
from ..models import RequestLog
from . import pgcopy, records, rollups
from .records import STORED_COLUMNS, StoredRow

INCOMING_TABLE = "security_requestlog_incoming"
INSERT_CHUNK = 500


def geolocate_records(batch: list[records.Record], use_network: bool) -> dict[str, dict]:
    # Imported here: geolocation pulls in geoip2 and requests, which the web processes need
    # only on the rare direct write.
    from ..geo import lookup_many

    ips = {record.ip for record in batch if record.ip}
    return {ip: result.as_fields() for ip, result in lookup_many(ips, use_network).items()}


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
    with transaction.atomic():
        bound_transaction()
        inserted = insert_new(list(rows.values()))
        new = [row for row in rows.values() if row.record_id in inserted]
        rollups.add(rollups.count_rows(new))
    return new


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
            "set_config('idle_in_transaction_session_timeout', %s, true)",
            [limit, lock_wait, limit],
        )


def insert_new(rows: list[StoredRow]) -> set:
    """Insert rows whose record_id is not stored yet; return the record_ids inserted."""
    if pgcopy.available():
        return _insert_by_copy(rows)
    return _insert_by_values(rows)


def _insert_by_copy(rows: list[StoredRow]) -> set:
    table = connection.ops.quote_name(RequestLog._meta.db_table)
    with connection.cursor() as cursor:
        columns = pgcopy.copy_into_temporary(cursor, INCOMING_TABLE, table, STORED_COLUMNS, rows)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {INCOMING_TABLE} "
            "ON CONFLICT (record_id) DO NOTHING RETURNING record_id"
        )
        return {record_id for (record_id,) in cursor.fetchall()}


def _insert_by_values(rows: list[StoredRow]) -> set:
    table = connection.ops.quote_name(RequestLog._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in STORED_COLUMNS)
    fields = [RequestLog._meta.get_field(name) for name in STORED_COLUMNS]
    record_id = RequestLog._meta.get_field("record_id")
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted = set()
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
                "ON CONFLICT (record_id) DO NOTHING RETURNING record_id",
                params,
            )
            inserted.update(record_id.to_python(value) for (value,) in cursor.fetchall())
    return inserted
