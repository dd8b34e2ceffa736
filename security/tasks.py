"""Dramatiq actors: thin adapters that call the app's functions. periodiq schedules the
periodic ones; run exactly one scheduler (`manage.py runscheduler` stands a second one by).

The module is named `tasks` because that is what django_dramatiq discovers in every app."""

import logging

import dramatiq
from periodiq import cron

from . import blocklist, export, feeds, privacy
from .conf import conf
from .detection import scan
from .requestlog import drain, keys, retention, rollups

logger = logging.getLogger(__name__)


@dramatiq.actor(
    actor_name=keys.DRAIN_ACTOR,
    queue_name=keys.DRAIN_QUEUE,
    max_retries=3,
    time_limit=120_000,
    periodic=cron("* * * * *"),
)
def drain_request_logs() -> None:
    # Woken by the web processes after a flush; the once-a-minute schedule is the backstop
    # for wake-ups lost while the worker or Redis was away.
    stored = drain.drain()
    if stored:
        logger.info("drained %d request log records", stored)


@dramatiq.actor(max_retries=1, time_limit=3_600_000, periodic=cron("17 * * * *"))
def delete_old_request_logs() -> None:
    deleted = retention.delete_old_logs(conf.LOG_RETENTION_DAYS)
    if deleted:
        logger.info("deleted %d request logs older than %d days", deleted, conf.LOG_RETENTION_DAYS)
    rollups.delete_old_rollups(conf.ROLLUP_RETENTION_DAYS)
    if conf.ANONYMIZE_AFTER_DAYS is not None:
        changed = privacy.anonymize_older_than(conf.ANONYMIZE_AFTER_DAYS)
        if changed:
            logger.info("cut %d stored addresses to their networks", changed)


# Few retries and a lock: a failing scan must not pile up behind the next hourly one.
@dramatiq.actor(max_retries=2, time_limit=1_800_000, periodic=cron("0 * * * *"))
def detect_anomalies() -> None:
    findings = scan.scan_exclusively(hours=1)
    if findings:
        logger.warning("anomaly scan flagged %d IP/reason pairs", len(findings))


@dramatiq.actor(max_retries=0, time_limit=1_800_000, periodic=cron("*/10 * * * *"))
def refresh_threat_feeds() -> None:
    # Each feed keeps its own interval (SECURITY_FEEDS[...]["refresh"]); this only looks.
    feeds.refresh_due()


@dramatiq.actor(actor_name=blocklist.EXPORT_ACTOR, max_retries=3, time_limit=300_000)
def export_blocklist_to_edge() -> None:
    # Queued (debounced) after every blocklist change when SECURITY_EXPORT is set.
    export.export_configured()
