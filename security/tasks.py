"""Dramatiq actors: thin adapters that call the app's functions. Periodic ones declare their
schedule with periodiq's cron(); `manage.py runscheduler` sends each slot once (one active per
site, a standby waiting) and the actor runs each slot once (security/scheduling.py).

The module is named `tasks` because that is what django_dramatiq discovers in every app."""

import logging
from datetime import datetime

import dramatiq
from django.db import DatabaseError
from periodiq import cron
from redis.exceptions import RedisError

from . import alerts, privacy, scheduling
from .blocking import changes, export, feeds
from .conf import conf
from .detection import scan, streaming
from .requestlog import compaction, drain, keys, retention, rollups
from .requestlog.records import StoredRow

logger = logging.getLogger(__name__)


@dramatiq.actor(
    actor_name=keys.DRAIN_ACTOR,
    queue_name=keys.DRAIN_QUEUE,
    max_retries=3,
    time_limit=120_000,
    periodic=cron("* * * * *"),
)
def drain_request_logs(slot: str | None = None) -> None:
    # Woken by the web processes after a flush; the once-a-minute schedule is the backstop
    # for wake-ups lost while the worker or Redis was away. Any drain does any slot's work.
    scheduling.run_slot(keys.DRAIN_ACTOR, slot, _drain)


def detect_stored(rows: list[StoredRow]) -> None:
    """Streaming detection on rows a drain just stored. They are committed whatever happens
    here: a failure is logged, and the hourly scan catches up."""
    if not conf.DETECT_STREAMING:
        return
    try:
        streaming.detect(rows)
    except (DatabaseError, RedisError) as error:
        logger.error("streaming detection skipped a batch (%s); the hourly scan catches up", error)


def drain_logs(time_budget: float = 20.0) -> int:
    """The drain as the worker runs it: stored rows go through streaming detection."""
    return drain.drain(time_budget, after_store=detect_stored)


def _drain(_slot: datetime | None) -> None:
    stored = drain_logs()
    if stored:
        logger.info("drained %d request log records", stored)


def _delete_old(_slot: datetime | None) -> None:
    retention.prepare_partitions(conf.LOG_RETENTION_DAYS)
    deleted = retention.delete_old_logs(conf.LOG_RETENTION_DAYS)
    if deleted:
        logger.info("deleted %d request logs older than %d days", deleted, conf.LOG_RETENTION_DAYS)
    rollups.delete_old_rollups(conf.ROLLUP_RETENTION_DAYS)
    compaction.compact()
    scheduling.delete_old_runs()
    if conf.ANONYMIZE_AFTER_DAYS is not None:
        changed = privacy.anonymize_older_than(conf.ANONYMIZE_AFTER_DAYS)
        if changed:
            logger.info("cut %d stored addresses to their networks", changed)


@dramatiq.actor(max_retries=1, time_limit=3_600_000, periodic=cron("17 * * * *"))
def delete_old_request_logs(slot: str | None = None) -> None:
    scheduling.run_slot(delete_old_request_logs.actor_name, slot, _delete_old)


class ScanBusyError(Exception):
    """Another scan holds the lock: this slot is retried rather than counted as done."""


def _scan(slot: datetime | None) -> None:
    findings = scan.scan_exclusively(hours=1, now=slot)
    if findings is None:
        raise ScanBusyError("another anomaly scan is running; this slot is retried")
    if findings:
        logger.warning("anomaly scan flagged %d IP/reason pairs", len(findings))


# Few retries: a failing scan must not pile up; a missed hour is sent again by the scheduler.
@scheduling.every_slot
@dramatiq.actor(max_retries=2, time_limit=1_800_000, periodic=cron("0 * * * *"))
def detect_anomalies(slot: str | None = None) -> None:
    # A slot scans the hour that ended at it, however late it runs.
    scheduling.run_slot(detect_anomalies.actor_name, slot, _scan)


@dramatiq.actor(max_retries=0, time_limit=1_800_000, periodic=cron("*/10 * * * *"))
def refresh_threat_feeds(slot: str | None = None) -> None:
    # Each feed keeps its own interval (SECURITY_FEEDS[...]["refresh"]); this only looks.
    scheduling.run_slot(refresh_threat_feeds.actor_name, slot, lambda _slot: feeds.refresh_due())


@dramatiq.actor(actor_name=changes.EXPORT_ACTOR, max_retries=3, time_limit=300_000)
def export_blocklist_to_edge() -> None:
    # Queued (debounced) after every blocklist change when SECURITY_EXPORT is set, and for
    # just after the next block expires.
    if export.export_configured():
        changes.request_export_at_next_expiry()


@dramatiq.actor(
    actor_name=alerts.WEBHOOK_ACTOR,
    queue_name=alerts.WEBHOOK_QUEUE,
    max_retries=6,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=30_000,
)
def send_alert_webhook(event: dict) -> None:
    # Queued by alerts.on_event (never from the request path); retried with backoff.
    alerts.deliver(event)
