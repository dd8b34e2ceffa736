"""The missing-GeoIP warning (ip_tracking.W001) through the real commands: said once where a
site's health is looked at (check, runserver, the worker starting), with the command that
fixes it, and not on the commands an operator or cron runs every day."""

import re
import signal
from pathlib import Path

import pytest
from mirakuru import HTTPExecutor, SimpleExecutor

from security.redis_client import get_redis
from tests.conftest import wait_for
from tests.processes import PYTHON, ROOT, free_port, process_env, run_manage

pytestmark = pytest.mark.slow


def warnings_in(text: str) -> list[str]:
    return re.findall(r"\((ip_tracking\.W\d+)\)", text)


@pytest.fixture
def own_database(tmp_path: Path) -> dict[str, str]:
    """A migrated database of its own: the commands below write to it."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}"}
    migrated = run_manage("migrate", "--no-input", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert warnings_in(migrated.stdout + migrated.stderr) == []
    return env


def test_check_says_it_once_and_names_update_geodb(own_database):
    result = run_manage("check", **own_database)
    assert result.returncode == 0, result.stderr
    assert warnings_in(result.stderr) == ["ip_tracking.W001"]
    assert "manage.py update_geodb" in result.stderr


def test_everyday_commands_do_not_repeat_it(own_database):
    blocked = run_manage("block_ip", "203.0.113.7", "--reason", "test", **own_database)
    assert blocked.returncode == 0, blocked.stderr
    unblocked = run_manage("unblock_ip", "203.0.113.7", **own_database)
    assert unblocked.returncode == 0, unblocked.stderr
    geolocated = run_manage("geolocate", "203.0.113.7", **own_database)
    assert geolocated.returncode == 0, geolocated.stderr
    for result in (blocked, unblocked, geolocated):
        assert warnings_in(result.stdout + result.stderr) == []


def start(command: list[str], log: Path, env: dict[str, str], url: str = "") -> SimpleExecutor:
    output = log.open("wb")
    options = {"cwd": str(ROOT), "envvars": process_env(**env), "timeout": 30}
    process = (
        HTTPExecutor(command, url=url, stdout=output, stderr=output, **options)
        if url
        else SimpleExecutor(command, stdout=output, stderr=output, **options)
    )
    process._stop_signal = signal.SIGINT
    process.start()
    return process


def test_the_worker_says_it_once_at_start(own_database, tmp_path):
    log = tmp_path / "worker.log"
    command = [PYTHON, "manage.py", "rundramatiq", "--processes", "1", "--threads", "1"]
    worker = start(command, log, own_database)
    try:
        # A worker process that consumes has registered with the broker (its heartbeat).
        wait_for(lambda: get_redis().zcard("dramatiq:__heartbeats__"), timeout=60)
    finally:
        worker.stop()
    assert warnings_in(log.read_text()) == ["ip_tracking.W001"]


def test_runserver_says_it_once(own_database, tmp_path):
    log = tmp_path / "runserver.log"
    port = free_port()
    command = [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}"]
    server = start(command, log, own_database, url=f"http://127.0.0.1:{port}/")
    server.stop()
    assert warnings_in(log.read_text()) == ["ip_tracking.W001"]


def test_the_scheduler_does_not_say_it(own_database, tmp_path):
    log = tmp_path / "scheduler.log"
    scheduler = start([PYTHON, "manage.py", "runscheduler"], log, own_database)
    try:
        wait_for(lambda: "scheduler lock taken" in log.read_text(), timeout=30)
    finally:
        scheduler.stop()
    assert warnings_in(log.read_text()) == []
