"""Two drains at once: one row per record, one count per row, and no drain waiting on another."""

import threading
import time
import uuid

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from security.models import RequestLog, RequestRollup, RollupKind
from security.requestlog import drain, keys, records, store
from security.requestlog.store import store_new_rows
from tests.conftest import publish_records

pytestmark = pytest.mark.django_db(transaction=True)


def batch_of(count: int, path: str = "/") -> list[records.Record]:
    now = timezone.now().timestamp()
    return [
        records.Record(uuid.uuid4().hex, now, "198.51.100.1", "GET", path, 200)
        for _ in range(count)
    ]


def counted(kind: str = RollupKind.TOTAL) -> int:
    return RequestRollup.objects.filter(kind=kind).aggregate(n=Sum("count"))["n"] or 0


class RolledBack(Exception):
    pass


class OpenDrain(threading.Thread):
    """A drain that stored its batch and has not committed yet (as one cut off would)."""

    def __init__(self, batch: list[records.Record], roll_back_after: float = 30) -> None:
        super().__init__(daemon=True)
        self.batch = batch
        self.roll_back_after = roll_back_after
        self.stored = threading.Event()
        self.commit = threading.Event()
        self.session = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                store_new_rows(self.batch)
                if connection.vendor == "postgresql":  # what a drain records of its session
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_backend_pid(), now()")
                        self.session = cursor.fetchone()
                self.stored.set()
                if not self.commit.wait(self.roll_back_after):
                    raise RolledBack  # as PostgreSQL does when it ends a silent session
        except (RolledBack, DatabaseError):
            pass
        finally:
            connections.close_all()


def test_a_record_stored_by_two_drains_at_once_is_one_row_and_one_count():
    batch = batch_of(50)
    first = OpenDrain(batch)
    first.start()
    assert first.stored.wait(10)
    second_result: list = []
    second = threading.Thread(
        target=lambda: (second_result.append(store_new_rows(batch)), connections.close_all())
    )
    second.start()  # it waits for the first drain's rows (or, on SQLite, its write lock)
    first.commit.set()
    first.join(10)
    second.join(30)
    assert second_result == [[]]  # it inserted nothing, so it counted nothing
    assert RequestLog.objects.count() == 50
    assert counted() == 50


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has one writer at a time: drains there take turns by design",
)
def test_a_drain_left_open_holds_up_no_other_drain():
    first = OpenDrain(batch_of(20, "/busy/"))
    first.start()
    assert first.stored.wait(10)
    try:
        # Same hour, same path: the rollup rows the open transaction holds locked.
        stored = store_new_rows(batch_of(30, "/busy/"))
        assert len(stored) == 30  # done while the first is still open
        assert first.is_alive()
    finally:
        first.commit.set()
        first.join(10)
    assert counted() == 50
    assert counted(RollupKind.PATH) == 50
    assert RequestRollup.objects.filter(kind=RollupKind.TOTAL).count() == 2  # two shards


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="lock time-outs are PostgreSQL's (SQLite drains take turns on one write lock)",
)
def test_a_batch_a_cut_drain_holds_locked_is_stored_as_soon_as_that_session_ends(redis_client):
    batch = batch_of(20, "/locked/")
    # A drain cut off mid-transaction holds these records' rows until its session ends.
    cut_off = OpenDrain(batch, roll_back_after=3)
    cut_off.start()
    assert cut_off.stored.wait(10)
    publish_records(batch)
    # This drain fails on the lock time-out (2 s) and tries again until the rows are free,
    # rather than leaving the batch for a drain a minute later.
    assert drain.drain() == 20
    cut_off.join(10)
    assert RequestLog.objects.filter(path="/locked/").count() == 20
    assert counted(RollupKind.PATH) == 20
    assert redis_client.xlen(keys.stream()) == 0


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the abandoned session is a PostgreSQL backend (SQLite has no sessions to end)",
)
def test_a_drain_ends_the_session_its_lost_transaction_left_and_stores_the_batch(redis_client):
    batch = batch_of(20, "/lost/")
    # This thread's last drain transaction lost its connection: PostgreSQL still holds the
    # session, idle in transaction, with the batch's rows locked, for its 10 s time-out.
    lost = OpenDrain(batch, roll_back_after=60)
    lost.start()
    assert lost.stored.wait(10)
    store._open_transaction.session = lost.session
    publish_records(batch)
    assert drain.drain() == 20  # the lock waits alone would have outlasted the drain
    lost.join(10)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [lost.session[0]])
        assert cursor.fetchone()[0] == 0
    assert RequestLog.objects.filter(path="/lost/").count() == 20


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a lost connection is a PostgreSQL session ended under the drain (SQLite is local)",
)
def test_a_drain_that_loses_the_database_hands_its_batch_back_at_once(redis_client):
    from psycopg import connect

    batch = batch_of(10, "/handed-back/")
    holder = OpenDrain(batch, roll_back_after=60)  # keeps the drain waiting on the rows
    holder.start()
    assert holder.stored.wait(10)
    publish_records(batch)
    dsn = connection.get_connection_params()

    def end_the_waiting_session() -> None:  # what a cut or a crashed server does to it
        with connect(**{k: v for k, v in dsn.items() if k != "cursor_factory"}) as side:
            side.autocommit = True
            for _ in range(100):
                ended = side.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ).fetchall()
                if ended:
                    return
                time.sleep(0.02)

    threading.Thread(target=end_the_waiting_session, daemon=True).start()
    assert drain.drain() == 0  # it gave the batch back rather than retrying on its own
    pending = redis_client.xpending_range(keys.stream(), keys.DRAIN_GROUP, "-", "+", 10)
    assert [p["consumer"] for p in pending] == [b"handed-back"]
    holder.commit.set()
    holder.join(10)
    assert drain.drain() == 10  # the next drain takes it at once (the holder stored the rows)
    assert RequestLog.objects.filter(path="/handed-back/").count() == 10
    assert redis_client.xlen(keys.stream()) == 0
