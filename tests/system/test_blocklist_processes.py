"""Blocks reach every worker process of a running server within two seconds."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.processes import start_web
from tests.test_blocklist import run_manage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def statuses(url: str, count: int = 40) -> set[int]:
    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(lambda _: requests.get(url, timeout=10).status_code, range(count)))


def seconds_until(url: str, expected: int, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if statuses(url) == {expected}:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer {expected} everywhere within {timeout}s")


def test_changes_reach_every_worker_within_two_seconds():
    server, url = start_web(workers=3, threads=2)
    try:
        assert statuses(url + "/") == {200}
        for target in ("127.0.0.1", "127.0.0.0/8"):
            assert run_manage("block_ip", target, "--reason", "test").returncode == 0
            assert seconds_until(url + "/", 403) < 2.0
            assert statuses(url + "/no/such/page/") == {403}
            assert run_manage("allow_ip", "127.0.0.1").returncode == 0
            assert seconds_until(url + "/", 200) < 2.0
            assert run_manage("allow_ip", "127.0.0.1", "--remove").returncode == 0
            assert seconds_until(url + "/", 403) < 2.0
            assert run_manage("unblock_ip", target).returncode == 0
            assert seconds_until(url + "/", 200) < 2.0
    finally:
        server.stop()
