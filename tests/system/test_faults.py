"""Faults against real processes: Redis stopped mid-traffic, a worker killed mid-drain, a
hanging or failing geolocation API, and a locked database during a flush."""

import re
import shutil
import sqlite3
import threading
import time

import psycopg
import pytest
import requests
from django.db import connection
from mirakuru import TCPExecutor
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from security.blocking.changes import block
from security.models import RequestLog
from tests.conftest import wait_for
from tests.processes import free_port, run_manage, start_web, start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def start_redis(tmp_path, port: int) -> TCPExecutor:
    # Append-only file on: the log stream survives a restart, as it must in production.
    command = [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--dir",
        str(tmp_path),
    ]
    redis_server = TCPExecutor(command, host="127.0.0.1", port=port, timeout=20)
    redis_server.start()
    return redis_server


def rows(path: str) -> int:
    return RequestLog.objects.filter(method="GET", path=path).count()


def get(url: str, client_ip: str, path: str = "/fault/") -> int:
    headers = {"X-Forwarded-For": client_ip}
    return requests.get(url + path, headers=headers, timeout=10).status_code


def login_posts(url: str, count: int) -> list[int]:
    session = requests.Session()
    page = session.get(url + "/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    form = {"csrfmiddlewaretoken": token, "username": "nobody", "password": "wrong"}
    return [session.post(url + "/login/", data=form, timeout=10).status_code for _ in range(count)]


def test_redis_stopped_mid_traffic(tmp_path):
    port = free_port()
    redis_server = start_redis(tmp_path, port)
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "SECURITY_TRUSTED_PROXIES": "127.0.0.1"}
    block(["198.51.100.200"])
    server, url = start_web(**env)
    worker = start_worker(**env)
    try:
        assert {get(url, f"203.0.113.{i % 50}") for i in range(100)} == {404}
        assert get(url, "198.51.100.200") == 403

        redis_server.stop()
        assert {get(url, f"203.0.113.{i % 50}") for i in range(100)} == {404}
        assert get(url, "198.51.100.200") == 403  # the block holds
        assert requests.get(url + "/", timeout=10).status_code == 200
        assert set(login_posts(url, 8)) == {200}  # documented policy: fail open, never 500

        redis_server.start()
        assert {get(url, f"203.0.113.{i % 50}") for i in range(100)} == {404}
        wait_for(lambda: rows("/fault/") >= 302, 60)
    finally:
        server.stop()
        worker.stop()
        redis_server.stop()
    # Every request exactly once: 300 pages and the 2 blocked attempts.
    assert rows("/fault/") == 302
    assert RequestLog.objects.filter(path="/fault/", status_code=403).count() == 2


def test_a_block_made_while_redis_restarts_is_announced_once_it_is_back(tmp_path):
    """A Sentinel failover or a restart takes seconds: block_ip waits for Redis to tell every
    process, instead of leaving them to notice from the database."""
    import redis

    from security.blocking.blocklist import VERSION_KEY

    port = free_port()
    redis_server = start_redis(tmp_path, port)
    store = redis.Redis(port=port)
    store.set(VERSION_KEY, "before")
    redis_server.stop()
    try:
        restart = threading.Timer(3, redis_server.start)
        restart.start()
        result = run_manage("block_ip", "198.51.100.201", REDIS_URL=f"redis://127.0.0.1:{port}/0")
        restart.join()
        assert result.returncode == 0, result.stderr
        assert "unreachable" not in result.stderr
        assert store.get(VERSION_KEY) not in (None, b"before")
    finally:
        redis_server.stop()


def test_worker_killed_mid_drain_loses_and_duplicates_nothing():
    env = {"SECURITY_LOG_CLAIM_IDLE_SECONDS": "2"}
    server, url = start_web(**env)
    try:
        session = requests.Session()
        for _ in range(3000):
            assert session.get(url + "/fault/", timeout=10).status_code == 404
        time.sleep(1.5)  # let the web processes flush their buffers to the stream
        worker = start_worker(**env)
        wait_for(lambda: rows("/fault/") > 0, 30, interval=0.01)
        worker.kill()  # SIGKILL, mid-drain: its claimed entries stay unacknowledged
        worker = start_worker(**env)
        try:
            time.sleep(2.5)  # past the claim idle time
            session.get(url + "/", timeout=10)  # any traffic asks for a drain
            wait_for(lambda: rows("/fault/") >= 3000, 60)
            time.sleep(1)
        finally:
            worker.stop()
    finally:
        server.stop()
    assert rows("/fault/") == 3000


@pytest.mark.parametrize("failure", ["hang", "error"])
def test_geolocation_api_failures_do_not_stop_the_drain(httpserver: HTTPServer, failure):
    answered = threading.Event()

    def respond(request: Request) -> Response:
        if failure == "hang":
            time.sleep(4)
            answered.set()
            return Response("{}")
        return Response("internal error", status=500)

    httpserver.expect_request(re.compile("/.*")).respond_with_handler(respond)
    env = {
        "SECURITY_TRUSTED_PROXIES": "127.0.0.1",
        "SECURITY_GEO_API_URL": httpserver.url_for("/json/") + "{ip}",
        "SECURITY_GEO_API_BATCH_URL": httpserver.url_for("/batch"),
    }
    server, url = start_web(**env)
    worker = start_worker(**env)
    try:
        for i in range(40):
            assert get(url, f"8.8.{i}.8") == 404
        wait_for(lambda: rows("/fault/") >= 40, 30)
    finally:
        server.stop()
        worker.stop()
        if failure == "hang":
            answered.wait(10)
    assert rows("/fault/") == 40
    assert not RequestLog.objects.filter(path="/fault/").exclude(country="").exists()


def lock_log_table(seconds: float) -> threading.Thread:
    """Hold a write lock on the log table from another connection, as a migration or a
    long transaction would."""
    settings = connection.settings_dict

    def hold() -> None:
        if connection.vendor == "sqlite":
            db = sqlite3.connect(settings["NAME"])
            db.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            db.rollback()
            db.close()
        else:
            with psycopg.connect(
                host=settings["HOST"] or "127.0.0.1",
                port=settings["PORT"] or 5432,
                user=settings["USER"] or "postgres",
                dbname=settings["NAME"],
            ) as db:
                db.execute("LOCK TABLE security_requestlog IN ACCESS EXCLUSIVE MODE")
                time.sleep(seconds)
                db.rollback()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_locked_database_during_a_direct_flush_loses_nothing():
    server, url = start_web(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        requests.get(url + "/", timeout=10)  # the blocklist is loaded before the lock
        holder = lock_log_table(3.0)
        time.sleep(0.3)
        started = time.monotonic()
        assert {requests.get(url + "/fault/", timeout=10).status_code for _ in range(50)} == {404}
        assert time.monotonic() - started < 3.0  # requests never wait for the database
        holder.join()
        wait_for(lambda: rows("/fault/") >= 50, 30)
    finally:
        server.stop()
    assert rows("/fault/") == 50
