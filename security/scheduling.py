"""Periodic jobs: each slot of a schedule runs once, late rather than never.

The actors declare their schedules with periodiq's `cron()` (the `periodic` actor option). The
active scheduler (`manage.py runscheduler`, one per site, a standby waiting) looks every second
for the slots that have come since the last slot it knows of, records each one as a
ScheduledRun (unique per job and slot: two schedulers that both think they are active still
send a slot once) and sends its message with the slot as an argument. Messages carry no
periodiq `scheduled_at`, so no worker drops them as too old: a slot that waited behind a busy
or stalled worker still runs. A slot not finished `resend_after(actor)` after it was sent (its
message lost with a Redis restart, say) is sent again, up to MAX_SENDS times; the worker skips a
slot already finished, so a slot runs once.

After a gap (no scheduler running, a failover, a scheduler cut off from the database) the
missed slots are sent when the next tick sees them: every slot of the jobs whose work is per
slot (the anomaly scan scans that slot's hour), and only the latest one of the jobs that catch
up by themselves (a drain, retention). Slots older than CATCH_UP are left alone.

Slots are UTC minutes.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import dramatiq
from django.db.models import F, Max
from django.utils import timezone

from .models import ScheduledRun

logger = logging.getLogger("security.scheduler")

CATCH_UP = timedelta(hours=24)
MAX_SENDS = 3
MINUTE = timedelta(minutes=1)
# Actors whose every slot matters (see the module's note), by actor name.
EVERY_SLOT: set[str] = set()


def every_slot(actor: dramatiq.Actor) -> dramatiq.Actor:
    """Mark a periodic actor whose missed slots must each run (it does per-slot work)."""
    EVERY_SLOT.add(actor.actor_name)
    return actor


def periodic_actors(broker: dramatiq.Broker | None = None) -> list[dramatiq.Actor]:
    broker = broker or dramatiq.get_broker()
    actors = [actor for actor in broker.actors.values() if "periodic" in actor.options]
    return sorted(actors, key=lambda actor: actor.actor_name)


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class CronSpec(Protocol):
    """periodiq's cron spec, as far as the scheduler uses it."""

    def validate(self, moment: datetime) -> bool: ...


def due_slots(spec: CronSpec, after: datetime, until: datetime) -> list[datetime]:
    """The minutes in (after, until] that the cron spec names."""
    slots = []
    moment = minute_of(after) + MINUTE
    last = minute_of(until)
    while moment <= last:
        if spec.validate(moment):
            slots.append(moment)
        moment += MINUTE
    return slots


def resend_after(actor: dramatiq.Actor) -> timedelta:
    # A slot still running inside its time limit is not lost; one minute more for the queue.
    limit_ms = actor.options.get("time_limit") or 600_000
    return timedelta(milliseconds=limit_ms) + MINUTE


def send(actor: dramatiq.Actor, slot: datetime) -> None:
    actor.send_with_options(kwargs={"slot": slot.isoformat()})


class Scheduler:
    """What the active scheduler does each tick; runscheduler owns the lock and the loop."""

    def __init__(self, actors: Iterable[dramatiq.Actor], now: datetime | None = None) -> None:
        now = now or timezone.now()
        self.actors = list(actors)
        self.checked: dict[str, datetime] = {}
        known = dict(
            ScheduledRun.objects.values("job").annotate(last=Max("slot")).values_list("job", "last")
        )
        for actor in self.actors:
            # Resume after the last slot any scheduler recorded (at most CATCH_UP back); the
            # very first start begins with the current minute.
            last = known.get(actor.actor_name) or minute_of(now) - MINUTE
            self.checked[actor.actor_name] = max(last, minute_of(now) - CATCH_UP)

    def tick(self, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """Send what is due; return the (job, slot) pairs this call sent."""
        now = now or timezone.now()
        sent = []
        for actor in self.actors:
            name = actor.actor_name
            slots = due_slots(actor.options["periodic"], self.checked[name], now)
            if not slots:
                continue
            if name not in EVERY_SLOT:
                slots = slots[-1:]
            for slot in slots:
                if self.send_once(actor, slot, now):
                    sent.append((name, slot))
            self.checked[name] = slots[-1]
        sent += self.resend_unfinished(now)
        return sent

    def send_once(self, actor: dramatiq.Actor, slot: datetime, now: datetime) -> bool:
        _run, created = ScheduledRun.objects.get_or_create(
            job=actor.actor_name, slot=slot, defaults={"sent_at": now}
        )
        if created:
            send(actor, slot)
            logger.info("sent %s for %s", actor.actor_name, slot.isoformat())
        return created

    def resend_unfinished(self, now: datetime) -> list[tuple[str, datetime]]:
        """One query a tick for every job; each job's own resend time applies."""
        actors = {actor.actor_name: actor for actor in self.actors}
        oldest_limit = min((resend_after(actor) for actor in self.actors), default=CATCH_UP)
        unfinished = ScheduledRun.objects.filter(
            job__in=list(actors),
            finished_at=None,
            sends__lt=MAX_SENDS,
            sent_at__lt=now - oldest_limit,
            slot__gte=now - CATCH_UP,
        )
        sent = []
        for run in unfinished:
            actor = actors[run.job]
            if run.sent_at >= now - resend_after(actor):
                continue
            # Conditional on what we read: of two schedulers, one resends.
            if ScheduledRun.objects.filter(pk=run.pk, sends=run.sends).update(
                sends=F("sends") + 1, sent_at=now
            ):
                send(actor, run.slot)
                sent.append((run.job, run.slot))
                logger.warning(
                    "%s for %s unfinished after %s: sent again",
                    run.job,
                    run.slot.isoformat(),
                    resend_after(actor),
                )
        return sent


def run_slot(job: str, slot: str | None, work: Callable[[datetime | None], object]) -> bool:
    """Run work(slot) in a worker unless that slot already finished; mark it finished.
    slot None (a message sent by hand or by a web process) runs without bookkeeping."""
    if slot is None:
        work(None)
        return True
    when = datetime.fromisoformat(slot)
    if ScheduledRun.objects.filter(job=job, slot=when, finished_at__isnull=False).exists():
        logger.info("%s for %s already ran; skipped", job, slot)
        return False
    work(when)
    finished = timezone.now()
    ScheduledRun.objects.update_or_create(
        job=job,
        slot=when,
        defaults={"finished_at": finished},
        create_defaults={"sent_at": finished, "finished_at": finished},
    )
    return True


def delete_old_runs(days: int = 30) -> int:
    return ScheduledRun.objects.filter(slot__lt=timezone.now() - timedelta(days=days)).delete()[0]
