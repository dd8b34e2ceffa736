"""Who holds which stream entries: a gone worker's are taken over at once, a live one's are left
to it, this process's failed drains are picked up by its next drain, and no name lingers."""

import time
import uuid

import pytest
from django.utils import timezone

from security.models import RequestLog
from security.requestlog import consumers, drain, keys, records
from tests.conftest import publish_records, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def make_record() -> records.Record:
    now = timezone.now().timestamp()
    return records.Record(uuid.uuid4().hex, now, "198.51.100.9", "GET", "/", 200)


def names(redis_client) -> dict[str, int]:
    return {
        info["name"].decode(): info["pending"]
        for info in redis_client.xinfo_consumers(keys.stream(), keys.DRAIN_GROUP)
    }


def read_as(redis_client, consumer: str) -> None:
    drain.ensure_group(redis_client)
    redis_client.xreadgroup(keys.DRAIN_GROUP, consumer, {keys.stream(): ">"}, count=1000)


def test_what_a_gone_worker_process_held_is_taken_over_without_waiting_the_claim_time(
    redis_client,
):
    for _ in range(23):  # more entries than one drain takes at a time
        publish_records([make_record() for _ in range(3)])
    read_as(redis_client, "lost-host-4242-140001")  # no heartbeat: killed, cut off, stopped
    time.sleep(consumers.TAKEOVER_MIN_IDLE_MS / 1000 + 0.1)
    assert drain.drain() == 69  # SECURITY_LOG_CLAIM_IDLE_SECONDS is a minute
    assert RequestLog.objects.count() == 69
    assert names(redis_client) == {}  # the gone consumer's name is deleted too


def test_a_live_worker_keeps_its_entries(redis_client):
    publish_records([make_record() for _ in range(5)])
    redis_client.set(keys.alive("busy-host-77"), 1, px=60_000)
    read_as(redis_client, "busy-host-77-140002")
    time.sleep(consumers.TAKEOVER_MIN_IDLE_MS / 1000 + 0.1)
    assert drain.drain() == 0
    assert names(redis_client) == {"busy-host-77-140002": 1}


def test_a_drain_of_this_process_that_failed_is_picked_up_by_the_next_one(redis_client):
    publish_records([make_record() for _ in range(4)])
    # Another thread of this process read them, then lost Redis before it could store them.
    read_as(redis_client, f"{consumers.process_name()}-999")
    assert drain.drain() == 4
    assert names(redis_client) == {}


def test_a_heartbeat_keeps_a_draining_process_alive(redis_client):
    drain.drain()
    key = keys.alive(consumers.process_name())
    # Renewed every second for a few seconds' life (this test's Redis was just emptied).
    wait_for(lambda: redis_client.exists(key), consumers.RENEW_SECONDS * 2)
    assert 0 < redis_client.pttl(key) <= consumers.ALIVE_SECONDS * 1000
    time.sleep(consumers.ALIVE_SECONDS + 0.5)
    assert redis_client.exists(key)


def test_a_name_holding_entries_is_never_deleted(redis_client):
    publish_records([make_record()])
    read_as(redis_client, "someone-1-2")
    assert not consumers.delete_if_empty(redis_client, "someone-1-2")
    assert names(redis_client) == {"someone-1-2": 1}
