"""Two drains at once: one row per record, one count per row, and no drain waiting on another."""

import threading
import uuid

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from security.models import RequestLog, RequestRollup, RollupKind
from security.requestlog import records
from security.requestlog.store import store_new_rows

pytestmark = pytest.mark.django_db(transaction=True)


def batch_of(count: int, path: str = "/") -> list[records.Record]:
    now = timezone.now().timestamp()
    return [
        records.Record(uuid.uuid4().hex, now, "198.51.100.1", "GET", path, 200)
        for _ in range(count)
    ]


def counted(kind: str = RollupKind.TOTAL) -> int:
    return RequestRollup.objects.filter(kind=kind).aggregate(n=Sum("count"))["n"] or 0


class OpenDrain(threading.Thread):
    """A drain that stored its batch and has not committed yet (as one cut off would)."""

    def __init__(self, batch: list[records.Record]) -> None:
        super().__init__(daemon=True)
        self.batch = batch
        self.stored = threading.Event()
        self.commit = threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic():
                store_new_rows(self.batch)
                self.stored.set()
                self.commit.wait(30)
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
