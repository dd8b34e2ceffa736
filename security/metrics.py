"""Prometheus metrics: what each process does, and what the site as a whole holds.

Two kinds:
- Per process, kept by prometheus_client: requests by outcome, the log buffer's depth and
  flush failures, the blocklist this process matches against. Under gunicorn (several worker
  processes) set PROMETHEUS_MULTIPROC_DIR to an empty directory before the server starts, and
  mark dead workers as prometheus_client documents (project/gunicorn.conf.py does both); the
  endpoint then merges every process of the host.
- Site-wide, read from Redis and the database when scraped, so any web host reports them
  whichever worker host did the work: the stream's length and consumer lag, records drained
  and drain errors, geolocation sources and the API breaker, flags and automatic blocks by
  rule, active blocks by source, alert webhooks sent, failed and suppressed.
The worker side adds to the site-wide counters with one HINCRBY pipeline per drained batch.
"""

import contextlib
import logging
import operator
import os
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from redis.exceptions import RedisError

from .matcher import NetworkSet
from .models import BlockedIP
from .redis_client import get_redis
from .requestlog import keys, records

logger = logging.getLogger(__name__)

COUNTERS_KEY = "security:metrics"
GEO_BREAKER_KEY = "security:metrics:geo-breaker-open-until"

REQUESTS = Counter(
    "ip_tracking_requests",
    "Requests answered, by outcome (counted when the log buffer is flushed, within a second).",
    ["outcome"],
)
SERVED = REQUESTS.labels("served")
BLOCKED = REQUESTS.labels("blocked")
RATE_LIMITED = REQUESTS.labels("rate_limited")
LOG_BUFFER = Gauge(
    "ip_tracking_log_buffer_records",
    "Log records waiting in this process for a flush.",
    multiprocess_mode="liveall",
)
FLUSH_FAILURES = Counter(
    "ip_tracking_log_flush_failures", "Flushes that reached neither Redis nor the database."
)
BLOCKLIST_NETWORKS = Gauge(
    "ip_tracking_blocklist_networks",
    "Blocked networks in this process's compiled copy.",
    multiprocess_mode="liveall",
)
BLOCKLIST_CHECKED = Gauge(
    "ip_tracking_blocklist_checked_timestamp_seconds",
    "When this process last knew its blocklist copy to be current.",
    multiprocess_mode="liveall",
)

# Site-wide counters kept in one Redis hash: (field prefix, metric, help, label).
LABELLED_COUNTERS = (
    ("geo:", "ip_tracking_geolocated_records", "Stored records by geolocation source.", "source"),
    ("flag:", "ip_tracking_flags", "IPs flagged, by rule.", "rule"),
    ("autoblock:", "ip_tracking_automatic_blocks", "Automatic blocks, by rule.", "rule"),
    ("alert:", "ip_tracking_alerts", "Alert webhooks, by result.", "result"),
)


@lru_cache(maxsize=4)
def scraper_networks(entries: tuple[str, ...]) -> NetworkSet:
    """SECURITY_METRICS_NETWORKS compiled once; raises ValueError for a bad entry (the system
    check ip_tracking.E007 names it at start)."""
    return NetworkSet(entries)


_blocked_of = operator.itemgetter(records.BLOCKED_INDEX)
_status_of = operator.itemgetter(records.STATUS_INDEX)


def count_outcomes(batch: list) -> None:
    """Requests by outcome, from a batch of log records: the flush thread counts them, so a
    request pays no counter (a locked increment, a file write in multiprocess mode)."""
    # Counted by C loops (map, sum, count): a Python loop cost 600 instructions a record.
    # Blocked requests are answered 403, so no record is both blocked and limited.
    blocked = sum(map(_blocked_of, batch))
    limited = list(map(_status_of, batch)).count(429)
    for counter, amount in (
        (SERVED, len(batch) - blocked - limited),
        (BLOCKED, blocked),
        (RATE_LIMITED, limited),
    ):
        if amount:
            counter.inc(amount)


def add_to_site_counters(increments: Mapping[str, int]) -> None:
    """Best effort: a metric is never worth failing the work it counts."""
    if not increments:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for field, amount in increments.items():
            pipe.hincrby(COUNTERS_KEY, field, amount)
        pipe.execute()
    except RedisError as error:
        logger.debug("site counters not updated: %s", error)


def note_geo_breaker(open_until_epoch: float) -> None:
    with contextlib.suppress(RedisError):
        get_redis().set(GEO_BREAKER_KEY, open_until_epoch, ex=3600)


def _family_of(counters: dict[str, int], prefix: str, name: str, doc: str, label: str) -> Metric:
    family = CounterMetricFamily(name, doc, labels=[label])
    for field, value in sorted(counters.items()):
        if field.startswith(prefix):
            family.add_metric([field[len(prefix) :]], value)
    return family


class SiteCollector:
    """Read at scrape time; each source that cannot be read says so in an *_up gauge."""

    def collect(self) -> Iterator[Metric]:
        yield from self._from_redis()
        yield from self._from_database()

    def _from_redis(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ip_tracking_redis_up", "Redis answered this scrape.")
        try:
            client = get_redis()
            pipe = client.pipeline(transaction=False)
            pipe.xlen(keys.stream())
            pipe.hgetall(COUNTERS_KEY)
            pipe.get(GEO_BREAKER_KEY)
            pipe.exists(keys.stream())  # XINFO GROUPS fails on a stream never created
            length, raw_counters, breaker, exists = pipe.execute()
            groups = client.xinfo_groups(keys.stream()) if exists else []
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "ip_tracking_log_stream_entries", "Batches waiting in the stream.", value=length
        )
        lag = GaugeMetricFamily(
            "ip_tracking_log_consumer_lag", "Entries not yet read by the drains.", labels=["group"]
        )
        pending = GaugeMetricFamily(
            "ip_tracking_log_consumer_pending",
            "Entries read by a drain and not yet stored.",
            labels=["group"],
        )
        for group in groups:
            name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
            lag.add_metric([name], group.get("lag") or 0)
            pending.add_metric([name], group.get("pending") or 0)
        yield lag
        yield pending
        counters = {k.decode(): int(v) for k, v in raw_counters.items()}
        yield CounterMetricFamily(
            "ip_tracking_drained_records",
            "Records the drains stored.",
            value=counters.get("drained", 0),
        )
        yield CounterMetricFamily(
            "ip_tracking_drain_errors",
            "Drain batches that failed.",
            value=counters.get("drain_errors", 0),
        )
        for prefix, name, doc, label in LABELLED_COUNTERS:
            yield _family_of(counters, prefix, name, doc, label)
        open_until = float(breaker or 0)
        yield GaugeMetricFamily(
            "ip_tracking_geo_api_breaker_open",
            "1 while the geolocation API is paused by its breaker or rate limit.",
            value=1 if open_until > time.time() else 0,
        )

    def _from_database(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ip_tracking_database_up", "The database answered this scrape.")
        try:
            by_source = dict(
                BlockedIP.objects.active()
                .values("source")
                .annotate(n=Count("id"))
                .values_list("source", "n")
            )
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        blocks = GaugeMetricFamily(
            "ip_tracking_active_blocks",
            "Active blocks in the database, by source.",
            labels=["source"],
        )
        for source, count in sorted(by_source.items()):
            blocks.add_metric([source], count)
        yield blocks


class _Forward:
    """The per-process metrics (merged over the host's processes in multiprocess mode)."""

    def __init__(self, base: CollectorRegistry) -> None:
        self.base = base

    def collect(self) -> Iterator[Metric]:
        return iter(self.base.collect())


def render() -> bytes:
    base = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    combined = CollectorRegistry()
    combined.register(_Forward(base))
    combined.register(SiteCollector())
    return generate_latest(combined)
