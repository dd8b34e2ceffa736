"""The logging pipeline under faults, in process: a failing drain, a trickling geolocation API,
Redis and the database down together, a dead drain's backlog, a blocklist reload in progress.
The real-process versions are in tests/system/test_pipeline_faults.py."""

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from django.db import OperationalError
from django.test import Client, override_settings
from django.utils import timezone

from security import geo
from security.blocking import blocklist, changes
from security.models import RequestLog, RequestRollup, RollupKind
from security.requestlog import buffer, drain, keys, records, store
from security.requestlog.buffer import log_buffer
from tests.conftest import publish_records
from tests.trickle import trickling_server

pytestmark = pytest.mark.django_db(transaction=True)

DOWN_REDIS = "redis://127.0.0.1:1/0"


def make_record(ip: str = "198.51.100.1", path: str = "/") -> records.Record:
    return records.Record(uuid.uuid4().hex, timezone.now().timestamp(), ip, "GET", path, 200)


def consumers(redis_client) -> dict[str, int]:
    return {
        info["name"].decode(): info["pending"]
        for info in redis_client.xinfo_consumers(keys.stream(), keys.DRAIN_GROUP)
    }


# --- A drain that fails hands its batch back; the next drain stores it at once -----------------


def test_a_failed_drain_hands_its_batch_back_and_it_is_stored_exactly_once(
    redis_client, monkeypatch
):
    first = [make_record(path="/during-outage/") for _ in range(30)]
    publish_records(first)
    real_store = drain.store_new_rows

    def database_down(batch, use_network=True):
        raise OperationalError("the database went away")

    monkeypatch.setattr(drain, "store_new_rows", database_down)
    assert drain.drain(time_budget=0.5) == 0  # retried until its time was up
    # Handed back, not dropped: XGROUP DELCONSUMER would have lost the entries for ever.
    assert consumers(redis_client) == {"handed-back": 1}

    monkeypatch.setattr(drain, "store_new_rows", real_store)
    publish_records([make_record(path="/after/") for _ in range(5)])
    # The next drain takes the batch at once (the default claim time is a minute).
    assert drain.drain() == 35
    assert drain.drain() == 0
    assert RequestLog.objects.filter(path="/during-outage/").count() == 30
    assert RequestLog.objects.count() == 35
    rollup = RequestRollup.objects.get(kind=RollupKind.PATH, key="/during-outage/")
    assert rollup.count == 30
    assert redis_client.xlen(keys.stream()) == 0
    assert consumers(redis_client) == {}  # names are deleted once they hold nothing


def test_one_drain_claims_every_entry_a_dead_drain_left(redis_client, settings):
    for _ in range(57):  # more entries than one claim takes
        publish_records([make_record() for _ in range(3)])
    drain.ensure_group(redis_client)
    redis_client.xreadgroup(keys.DRAIN_GROUP, "dead", {keys.stream(): ">"}, count=1000)
    settings.SECURITY_LOG_CLAIM_IDLE_SECONDS = 0
    assert drain.drain() == 171
    assert RequestLog.objects.count() == 171


# --- A trickling geolocation API holds nothing back ----------------------------------------------


@pytest.fixture
def trickling_api() -> Iterator[str]:
    with trickling_server() as url:
        yield url


def test_a_trickling_api_delays_a_batch_by_the_deadline_at_most(trickling_api, settings):
    settings.SECURITY_GEO_API_URL = trickling_api + "/json/{ip}"
    settings.SECURITY_GEO_API_BATCH_URL = trickling_api + "/batch"
    settings.SECURITY_GEO_API_DEADLINE = 1.0
    settings.SECURITY_GEO_API_TIMEOUT = 2.0  # longer than a byte's wait: per-read timeouts hold
    for batch in range(4):
        publish_records([make_record(ip=f"8.8.{batch}.{i}") for i in range(5)])
        assert drain.drain() == 5  # returns: the rows are stored without waiting for the API
    assert RequestLog.objects.count() == 20
    assert set(RequestLog.objects.values_list("country_code", flat=True)) == {""}
    # The miss counted: after the breaker's failures the API is left alone.
    assert not geo.geo_api.available()
    stuck = [t for t in threading.enumerate() if t.name.startswith("security-geo")]
    assert len(stuck) <= 1  # one stuck call at most, never one per batch


def test_an_interrupted_wait_counts_towards_the_breaker(trickling_api, settings, monkeypatch):
    settings.SECURITY_GEO_API_URL = trickling_api + "/json/{ip}"
    settings.SECURITY_GEO_API_BATCH_URL = ""
    settings.SECURITY_GEO_BREAKER_FAILURES = 1

    class TimeLimitExceeded(BaseException):  # what dramatiq's TimeLimit raises in the actor
        pass

    def interrupted(self, timeout=None):
        raise TimeLimitExceeded()

    monkeypatch.setattr(Future, "result", interrupted)
    with pytest.raises(TimeLimitExceeded):
        geo.lookup("8.8.4.4")
    assert not geo.geo_api.available()


# --- Redis and the database down together ---------------------------------------------------------


@override_settings(SECURITY_REDIS_URL=DOWN_REDIS)
def test_both_stores_down_hold_records_encoded_once_and_retry_with_backoff(
    client: Client, monkeypatch
):
    encoded = []
    attempts = []
    real_encode = records.encode_batch
    real_store = store.store_records
    database_up = threading.Event()

    def counting_encode(batch):
        encoded.append(len(batch))
        return real_encode(batch)

    def flaky_store(batch, use_network=True):
        attempts.append(len(batch))
        if not database_up.is_set():
            raise OperationalError("the database is down too")
        return real_store(batch, use_network)

    monkeypatch.setattr(records, "encode_batch", counting_encode)
    monkeypatch.setattr(buffer, "store_records", flaky_store)
    for round_ in range(5):
        for _ in range(40):
            assert client.get("/", REMOTE_ADDR=f"203.0.113.{round_}").status_code == 200
        log_buffer.flush(force=False)  # what the flush thread does every second
    assert sum(encoded) == 200  # each record packed once, however often it is retried
    assert len(attempts) == 1  # backoff: one database attempt, not one per flush
    assert log_buffer.pending() == 200

    database_up.set()
    log_buffer.flush()  # at exit, or once the backoff has passed
    assert RequestLog.objects.count() == 200
    assert log_buffer.pending() == 0
    assert sum(encoded) == 200


# --- A blocklist reload never holds up a request ---------------------------------------------


def test_requests_are_served_from_the_previous_copy_while_a_reload_runs(
    client: Client, monkeypatch
):
    changes.block(["203.0.113.150"])
    assert client.get("/", REMOTE_ADDR="203.0.113.150").status_code == 403
    started = threading.Event()
    release = threading.Event()
    real_compile = blocklist.compile_from_database

    def slow_compile():
        started.set()
        release.wait(30)  # a reload of 200,000 networks, held open by the test
        return real_compile()

    monkeypatch.setattr(blocklist, "compile_from_database", slow_compile)
    reload = threading.Thread(target=blocklist.blocklist.reload_now)
    reload.start()
    assert started.wait(5)
    # Were a request to wait for the reload, these would hang until it is released.
    assert client.get("/", REMOTE_ADDR="203.0.113.150").status_code == 403
    assert client.get("/", REMOTE_ADDR="203.0.113.151").status_code == 200
    assert reload.is_alive()
    release.set()
    reload.join(5)


def test_static_files_are_served_while_the_blocklist_was_never_loaded(client: Client, monkeypatch):
    def database_down():
        raise OperationalError("database is down")

    monkeypatch.setattr(blocklist, "compile_from_database", database_down)
    blocklist.blocklist.reset()
    assert client.get("/", REMOTE_ADDR="203.0.113.152").status_code == 503
    static = client.get("/static/security/site.css", REMOTE_ADDR="203.0.113.152")
    assert static.status_code == 200
