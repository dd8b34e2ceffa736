"""Each slot of a periodic job is sent once, sent again if it never finished, and caught up
after a gap; a worker runs a slot once."""

from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
from periodiq import CronSpec

from security import scheduling, tasks
from security.models import ScheduledRun

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 24, 15, 30, 20, tzinfo=UTC)
HOUR = NOW.replace(minute=0, second=0)


def queued(actor: dramatiq.Actor) -> list[dict]:
    broker = dramatiq.get_broker()
    return [
        dramatiq.Message.decode(raw).kwargs
        for raw in broker.queues[actor.queue_name].queue
        if dramatiq.Message.decode(raw).actor_name == actor.actor_name
    ]


def test_due_slots_are_the_cron_minutes_in_the_interval():
    hourly = CronSpec.parse("0 * * * *")
    slots = scheduling.due_slots(hourly, HOUR - timedelta(hours=3), NOW)
    assert slots == [HOUR - timedelta(hours=2), HOUR - timedelta(hours=1), HOUR]


def test_missed_hourly_scans_are_each_sent_once_after_a_gap():
    ScheduledRun.objects.create(
        job="detect_anomalies", slot=HOUR - timedelta(hours=3), sent_at=NOW, finished_at=NOW
    )
    scheduler = scheduling.Scheduler([tasks.detect_anomalies], now=NOW)
    sent = scheduler.tick(NOW)
    assert [slot for _job, slot in sent] == [HOUR - timedelta(hours=n) for n in (2, 1, 0)]
    assert scheduler.tick(NOW + timedelta(seconds=1)) == []
    # A second scheduler that believes it is active too (a partition) sends nothing again.
    assert scheduling.Scheduler([tasks.detect_anomalies], now=NOW).tick(NOW) == []
    assert len(queued(tasks.detect_anomalies)) == 3


def test_jobs_that_catch_up_by_themselves_get_only_the_latest_missed_slot():
    ScheduledRun.objects.create(
        job="drain_request_logs", slot=NOW.replace(second=0) - timedelta(minutes=10), sent_at=NOW
    )
    sent = scheduling.Scheduler([tasks.drain_request_logs], now=NOW).tick(NOW)
    assert sent == [("drain_request_logs", NOW.replace(second=0))]


def test_the_first_start_begins_with_the_current_minute():
    sent = scheduling.Scheduler([tasks.drain_request_logs], now=NOW).tick(NOW)
    assert sent == [("drain_request_logs", NOW.replace(second=0))]
    assert scheduling.Scheduler([tasks.detect_anomalies], now=NOW).tick(NOW) == []


def test_an_unfinished_slot_is_sent_again_after_its_time_limit():
    scheduler = scheduling.Scheduler([tasks.detect_anomalies], now=HOUR)
    assert scheduler.tick(HOUR) == [("detect_anomalies", HOUR)]
    later = HOUR + scheduling.resend_after(tasks.detect_anomalies) + timedelta(seconds=1)
    assert scheduler.tick(later) == [("detect_anomalies", HOUR)]
    assert ScheduledRun.objects.get(job="detect_anomalies", slot=HOUR).sends == 2
    assert scheduler.tick(later) == []


def test_a_slot_runs_once_however_often_its_message_arrives():
    runs = []
    slot = HOUR.isoformat()
    assert scheduling.run_slot("detect_anomalies", slot, runs.append)
    assert not scheduling.run_slot("detect_anomalies", slot, runs.append)
    assert runs == [HOUR]
    assert ScheduledRun.objects.get(job="detect_anomalies", slot=HOUR).finished_at is not None


def test_a_failed_slot_is_not_marked_finished():
    def fail(_slot):
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        scheduling.run_slot("detect_anomalies", HOUR.isoformat(), fail)
    assert not ScheduledRun.objects.filter(finished_at__isnull=False).exists()


def test_a_scheduler_whose_lock_another_took_stops_sending(redis_client):
    from security.management.commands import runscheduler
    from security.redis_client import get_redis

    lease = runscheduler.Lease(
        get_redis().lock(runscheduler.LOCK_KEY, timeout=runscheduler.LOCK_TTL, thread_local=False)
    )
    lease.acquire()
    assert lease.held()
    redis_client.set(runscheduler.LOCK_KEY, "another scheduler's token")
    lease.keep()  # returns once it finds the lock gone
    assert not lease.held()
