import signal
import sys

import pytest
from mirakuru import SimpleExecutor
from periodiq import CronSpec

from security import tasks
from tests.conftest import wait_for
from tests.processes import ROOT, process_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_periodic_actors_are_registered_with_their_schedules():
    assert tasks.drain_request_logs.options["periodic"] == CronSpec.parse("* * * * *")
    assert tasks.delete_old_request_logs.options["periodic"] == CronSpec.parse("17 * * * *")
    assert tasks.detect_anomalies.options["periodic"] == CronSpec.parse("0 * * * *")


def start_scheduler(log_path) -> SimpleExecutor:
    scheduler = SimpleExecutor(
        [sys.executable, "manage.py", "runscheduler"],
        cwd=str(ROOT),
        envvars=process_env(),
        stop_signal=signal.SIGTERM,
        expected_returncode=0,
        timeout=30,
        stdout=log_path.open("wb"),
        stderr=-2,  # subprocess.STDOUT
    )
    scheduler.start()
    return scheduler


def test_only_one_scheduler_is_active_and_a_standby_takes_over(tmp_path, redis_client):
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_scheduler(first_log)
    second = None
    try:
        wait_for(lambda: "scheduler lock taken" in first_log.read_text(), 20)
        assert "drain_request_logs (* * * * *)" in first_log.read_text()
        holder = redis_client.get("security:scheduler-lock")
        assert holder

        second = start_scheduler(second_log)
        wait_for(lambda: "standing by" in second_log.read_text(), 20)
        assert "scheduler lock taken" not in second_log.read_text()

        first.stop()  # SIGTERM: the lock is released on the way out
        wait_for(lambda: "scheduler lock taken" in second_log.read_text(), 5)
        assert redis_client.get("security:scheduler-lock") not in (None, holder)
    finally:
        first.stop()
        if second is not None:
            second.stop()
