"""Redis behind Sentinel, on loopback: a primary, a replica and one Sentinel of the test's own.
The log buffer, the cache (rate limits, geolocation), the broker and the app's own client all
reach the primary through a redis+sentinel:// URL and follow a failover; a flush a replica did
not acknowledge is kept and sent again. Three Sentinels over hosts that die are the multi-host
test's (tests/multihost/)."""

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings
from django.utils import timezone
from dramatiq import Message
from mirakuru import TCPExecutor

from security.broker import RedisBroker
from security.models import RequestLog
from security.redis_client import client_from_url, get_redis
from security.requestlog import drain, keys, records
from security.requestlog.buffer import log_buffer
from tests.conftest import wait_for
from tests.processes import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SERVICE = "ipt-test"
REDIS_SERVER = shutil.which("redis-server") or "redis-server"


def redis_server(directory: Path, port: int, *extra: str) -> TCPExecutor:
    directory.mkdir(exist_ok=True)
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(directory), *extra]
    return TCPExecutor(command, host="127.0.0.1", port=port, timeout=20)


class Group:
    """A primary, a replica and a Sentinel watching them, each a process of this test."""

    def __init__(self, directory: Path) -> None:
        self.ports = {name: free_port() for name in ("a", "b", "sentinel")}
        self.servers = {
            "a": redis_server(directory / "a", self.ports["a"]),
            "b": redis_server(
                directory / "b", self.ports["b"], "--replicaof", "127.0.0.1", str(self.ports["a"])
            ),
        }
        config = directory / "sentinel.conf"
        config.write_text(
            f"port {self.ports['sentinel']}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.ports['a']} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self.sentinel = TCPExecutor(
            [REDIS_SERVER, str(config), "--sentinel"],
            host="127.0.0.1",
            port=self.ports["sentinel"],
            timeout=20,
        )
        self.url = f"redis+sentinel://127.0.0.1:{self.ports['sentinel']}/{SERVICE}/0"

    def start(self) -> None:
        for server in (*self.servers.values(), self.sentinel):
            server.start()
        wait_for(lambda: self.replicas_of("a") == 1, 20)

    def stop(self) -> None:
        for server in (self.sentinel, *self.servers.values()):
            server.stop()

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(port=self.ports[name], socket_timeout=2)

    def replicas_of(self, name: str) -> int:
        info = self.client(name).info("replication")
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        return sum(1 for v in online if v.get("state") == "online")

    def primary_port(self) -> int:
        sentinel = redis.Redis(port=self.ports["sentinel"], socket_timeout=2)
        return int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1])


@pytest.fixture
def group(tmp_path) -> Iterator[Group]:
    group = Group(tmp_path)
    group.start()
    try:
        yield group
    finally:
        group.stop()


def make_record(path: str) -> records.Record:
    now = timezone.now().timestamp()
    return records.Record(uuid.uuid4().hex, now, "198.51.100.30", "GET", path, 200)


def sentinel_caches(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": [url],
            "OPTIONS": {
                "socket_timeout": 0.5,
                "pool_class": "security.redis_client.ConnectionPool",
            },
        }
    }


def test_every_client_reaches_the_primary_and_follows_a_failover(group):
    broker = RedisBroker(url=group.url)
    with override_settings(SECURITY_REDIS_URL=group.url, CACHES=sentinel_caches(group.url)):
        get_redis().set("probe", "app")
        caches["default"].set("probe", "cache")
        broker.enqueue(Message("default", "some_actor", (), {}, {}))
        primary = group.client("a")
        assert primary.get("probe") == b"app"
        assert primary.exists(caches["default"].make_key("probe"))
        assert primary.llen("dramatiq:default") == 1

        # The primary goes away; the Sentinel promotes the replica.
        group.servers["a"].stop()
        wait_for(lambda: group.primary_port() == group.ports["b"], 30, 0.2)

        def everything_written_to_b() -> bool:
            try:
                get_redis().set("after", "app")
                caches["default"].set("after", "cache")
                broker.client.set("after-broker", 1)
            except redis.RedisError:
                return False
            return True

        wait_for(everything_written_to_b, 10, 0.2)
        promoted = group.client("b")
        assert promoted.get("after") == b"app"
        assert promoted.exists(caches["default"].make_key("after"))
        assert promoted.get("after-broker") == b"1"
        assert promoted.llen("dramatiq:default") == 1  # replicated before the failover


def test_a_reply_that_came_too_late_never_answers_the_next_command(group):
    client = client_from_url(group.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    client.set("kept", "value")
    with pytest.raises(redis.TimeoutError):
        client.blpop(["nothing-here"], 1)  # the server answers after 1 s, too late
    time.sleep(0.7)  # the late reply has arrived on that connection by now
    assert client.get("kept") == b"value"


def test_a_flush_no_replica_acknowledged_is_kept_and_sent_again(group):
    with override_settings(SECURITY_REDIS_URL=group.url):
        from security.conf import conf

        assert conf.LOG_REPLICA_ACKS == 1  # the default behind Sentinel
        for n in range(5):
            log_buffer.append(make_record(f"/acked/{n}"))
        log_buffer.flush()
        assert log_buffer.pending() == 0  # the replica has them

        # A replica that stops answering stays connected for the primary, and acknowledges
        # nothing: what the primary alone holds would be lost if it failed now.
        replica = group.servers["b"].process
        os.kill(replica.pid, signal.SIGSTOP)
        try:
            for n in range(7):
                log_buffer.append(make_record(f"/unacked/{n}"))
            log_buffer.flush()
            assert log_buffer.pending() == 7  # kept
            assert get_redis().xlen(keys.stream()) == 2
        finally:
            os.kill(replica.pid, signal.SIGCONT)
        wait_for(lambda: group.replicas_of("a") == 1, 20)
        log_buffer.flush()
        assert log_buffer.pending() == 0
        assert get_redis().xlen(keys.stream()) == 3  # sent again
        assert drain.drain() == 19
        assert RequestLog.objects.filter(path__startswith="/unacked/").count() == 7
        assert RequestLog.objects.count() == 12


def test_a_primary_left_without_a_replica_takes_the_flush(group, caplog):
    with override_settings(SECURITY_REDIS_URL=group.url):
        group.servers["b"].stop()  # gone: nothing left to wait for
        wait_for(lambda: group.replicas_of("a") == 0, 20)
        log_buffer.append(make_record("/alone/"))
        log_buffer.flush()
        assert log_buffer.pending() == 0
        assert drain.drain() == 1
    assert any("no Redis replica is connected" in r.getMessage() for r in caplog.records)


def test_without_sentinel_no_acknowledgement_is_asked(group):
    plain = f"redis://127.0.0.1:{group.ports['a']}/0"
    with override_settings(SECURITY_REDIS_URL=plain):
        from security.conf import conf

        assert conf.LOG_REPLICA_ACKS == 0
        group.servers["b"].stop()  # a plain URL promises no replica: the flush is done
        log_buffer.append(make_record("/plain/"))
        log_buffer.flush()
        assert log_buffer.pending() == 0
        assert drain.drain() == 1
