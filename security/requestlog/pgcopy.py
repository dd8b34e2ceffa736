"""Bulk writes into PostgreSQL through COPY (psycopg 3): rows are copied into a temporary table
shaped like the target, and one INSERT ... SELECT moves them on, with its ON CONFLICT clause.
A fraction of the cost of an INSERT binding thousands of parameters."""

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.backends.utils import CursorWrapper


def available() -> bool:
    """PostgreSQL through psycopg 3 (Django also runs on psycopg2, which has no copy())."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


def copy_into_temporary(
    cursor: CursorWrapper, name: str, like_table: str, columns: Sequence[str], rows: Iterable[tuple]
) -> str:
    """Copy rows into the session's temporary table `name` (made once per connection from
    like_table's columns, emptied at every commit, gone with a rollback); return the quoted
    column list for the INSERT ... SELECT that follows."""
    column_list = ", ".join(connection.ops.quote_name(column) for column in columns)
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS "
        f"AS SELECT {column_list} FROM {like_table} WITH NO DATA"
    )
    # The raw psycopg cursor bypasses Django's error translation: without this a connection
    # lost during the COPY raised psycopg's OperationalError, which no `except DatabaseError`
    # catches, and the drain died instead of handing its batch back.
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {name} ({column_list}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    return column_list
