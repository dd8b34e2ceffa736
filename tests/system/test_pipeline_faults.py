"""The logging pipeline under faults, against real processes (gunicorn, the Dramatiq worker,
PostgreSQL and Redis behind a loopback proxy that the test cuts): exact counts, 0 lost and 0
duplicated where the design promises it."""

import os
import signal
import threading
import time
import urllib.parse

import psutil
import pytest
import requests
from django.db import connection
from django.db.models import Sum

from security.models import RequestLog, RequestRollup, RollupKind
from security.requestlog import drain
from tests.conftest import records_in_stream, wait_for
from tests.faultproxy import FaultProxy
from tests.processes import database_url_for_processes, start_web, start_worker
from tests.trickle import trickling_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def rows(path: str) -> int:
    return RequestLog.objects.filter(path=path).count()


def rollup(path: str) -> int:
    found = RequestRollup.objects.filter(kind=RollupKind.PATH, key=path).aggregate(Sum("count"))
    return found["count__sum"] or 0


class Traffic:
    """Requests from a thread until stopped; counts what was answered."""

    def __init__(self, url: str, path: str) -> None:
        self.url, self.path = url + path, path
        self.answered = 0
        self.statuses: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            self.statuses.add(session.get(self.url, timeout=10).status_code)
            self.answered += 1
            time.sleep(0.002)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(15)
        return self.answered


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a database outage needs a database server"
)
def test_database_outage_mid_drain_loses_and_duplicates_nothing():
    """PostgreSQL cut off from the worker for 6 s under traffic; every record arrives once."""
    parsed = urllib.parse.urlparse(database_url_for_processes())
    proxy = FaultProxy(parsed.hostname or "127.0.0.1", parsed.port or 5432)
    through_proxy = database_url_for_processes().replace(
        f"{parsed.hostname}:{parsed.port or 5432}", f"127.0.0.1:{proxy.port}"
    )
    env = {"SECURITY_LOG_CLAIM_IDLE_SECONDS": "2"}
    server, url = start_web(**env)
    worker = start_worker(DATABASE_URL=through_proxy, **env)
    try:
        traffic = Traffic(url, "/outage/")
        wait_for(lambda: rows("/outage/") > 100, 15)
        proxy.cut()
        time.sleep(6)
        proxy.heal()
        time.sleep(2)
        sent = traffic.stop()
        assert traffic.statuses == {404}
        wait_for(lambda: rows("/outage/") >= sent, 60)
        time.sleep(2)  # anything stored twice would show up now
        assert rows("/outage/") == sent
        assert rollup("/outage/") == sent
    finally:
        worker.stop()
        server.stop()
        proxy.stop()


def test_a_trickling_geolocation_api_never_holds_rows_back():
    with trickling_server() as api:
        env = {
            "SECURITY_TRUSTED_PROXIES": "127.0.0.1",
            "SECURITY_GEO_API_URL": api + "/json/{ip}",
            "SECURITY_GEO_API_BATCH_URL": api + "/batch",
        }
        server, url = start_web(**env)
        worker = start_worker(**env)
        try:
            session = requests.Session()
            for i in range(200):
                headers = {"X-Forwarded-For": f"8.8.{i // 100}.{i % 100}"}
                answer = session.get(url + "/trickle/", headers=headers, timeout=10)
                assert answer.status_code == 404
            # The API never finishes an answer; the rows arrive after its 5 s deadline anyway.
            wait_for(lambda: rows("/trickle/") == 200, 30)
            assert set(RequestLog.objects.values_list("country_code", flat=True)) == {""}
        finally:
            worker.stop()
            server.stop()


def test_redis_and_database_both_down_keep_serving_and_lose_nothing():
    """Both stores cut off from the web process after start: it keeps answering, holds its
    records, and delivers every one of them once the stores are back."""
    parsed = urllib.parse.urlparse(database_url_for_processes())
    redis_url = urllib.parse.urlparse(os.environ["REDIS_URL"])
    redis_proxy = FaultProxy(redis_url.hostname or "127.0.0.1", redis_url.port or 6379)
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}{redis_url.path or '/0'}"}
    db_proxy = None
    if connection.vendor == "postgresql":
        db_proxy = FaultProxy(parsed.hostname or "127.0.0.1", parsed.port or 5432)
        env["DATABASE_URL"] = database_url_for_processes().replace(
            f"{parsed.hostname}:{parsed.port or 5432}", f"127.0.0.1:{db_proxy.port}"
        )
    server, url = start_web(workers=1, **env)
    worker = start_worker()
    try:
        assert requests.get(url + "/", timeout=10).status_code == 200  # blocklist loaded
        redis_proxy.cut()
        if db_proxy:
            db_proxy.cut()
        traffic = Traffic(url, "/both-down/")
        time.sleep(4)
        sent_while_down = traffic.answered
        assert traffic.statuses == {404}
        assert sent_while_down > 100
        redis_proxy.heal()
        if db_proxy:
            db_proxy.heal()
        time.sleep(1)
        sent = traffic.stop()
        wait_for(lambda: rows("/both-down/") >= sent, 60)
        time.sleep(2)
        assert rows("/both-down/") == sent
        assert rollup("/both-down/") == sent
    finally:
        worker.stop()
        server.stop()
        redis_proxy.stop()
        if db_proxy:
            db_proxy.stop()


@pytest.mark.parametrize("signal_name", ["SIGABRT", "SIGTERM", "SIGINT"])
def test_a_signalled_web_worker_flushes_what_it_holds(redis_client, signal_name):
    """gunicorn's worker timeout sends SIGABRT; restarts send SIGTERM: 0 records lost."""
    # A long flush interval: everything the worker answered is still in its buffer.
    server, url = start_web(workers=1, threads=2, SECURITY_LOG_FLUSH_INTERVAL="3600")
    try:
        (worker_process,) = psutil.Process(server.process.pid).children()
        session = requests.Session()
        for _ in range(120):
            assert session.get(url + "/signalled/", timeout=10).status_code == 404
        before = records_in_stream(redis_client)
        os.kill(worker_process.pid, getattr(signal, signal_name))
        worker_process.wait(15)
        # The start-up health checks (HEAD /) were in the buffer too.
        wait_for(lambda: records_in_stream(redis_client) - before >= 120, 10)
        drain.drain()
        assert rows("/signalled/") == 120
    finally:
        server.stop()
