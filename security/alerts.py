"""Alerts: an optional webhook (Slack-compatible JSON) for flagged, blocked and unblocked IPs.

The signal receivers only queue a message for the worker (never an HTTP call in the process
that made the change: the drain, a request); the worker posts it with a short timeout, and a
failure is retried by Dramatiq with backoff. At most SECURITY_ALERT_WEBHOOK_PER_MINUTE alerts
are queued per minute for the whole site; what goes over is counted and said in the next alert
that goes out.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from django.urls import NoReverseMatch, reverse
from redis.exceptions import RedisError

from . import erasure, metrics
from .conf import conf
from .models import BlockedIP, SuspiciousIP
from .queueing import send_by_name
from .redis_client import get_redis
from .signals import ip_blocked, ip_flagged, ip_unblocked

logger = logging.getLogger(__name__)

WEBHOOK_ACTOR = "send_alert_webhook"
WEBHOOK_QUEUE = "alerts"
CAP_KEY = "security:alerts:minute:"
SUPPRESSED_KEY = "security:alerts:suppressed"
SHOWN_TARGETS = 10


def slack_text(value: object) -> str:
    """Text as Slack's mrkdwn shows it: `<`, `>` and `&` are markup there (`<!channel>` pings
    everyone, `<https://evil.example|click>` is a link), and request text reaches alerts."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def address_link(ip: str) -> str:
    """The address as a link to its page in the console when SECURITY_CONSOLE_URL says where
    the console is, else the plain (escaped) address."""
    base = conf.CONSOLE_URL.rstrip("/")
    if not base:
        return slack_text(ip)
    try:
        path = reverse("security:ip", args=[ip])
    except NoReverseMatch:
        return slack_text(ip)
    return f"<{base}{path}|{slack_text(ip)}>"


def flagged_event(suspicious: SuspiciousIP, **_arguments: Any) -> dict:
    signature = f" ({slack_text(suspicious.signature)})" if suspicious.signature else ""
    return {
        "event": "ip_flagged",
        "text": f"Flagged {address_link(suspicious.ip_address)}: "
        f"{slack_text(suspicious.get_reason_display())}{signature}",
        "ip_address": suspicious.ip_address,
        "reason": suspicious.reason,
        "signature": suspicious.signature,
        "detected_by": suspicious.detected_by,
    }


def _listed(targets: list[str]) -> str:
    shown = ", ".join(address_link(target) for target in targets[:SHOWN_TARGETS])
    more = len(targets) - SHOWN_TARGETS
    return shown + (f" and {more} more" if more > 0 else "")


def blocked_event(
    targets: list[str], reason: str, expires_at: datetime | None, source: str, **_arguments: Any
) -> dict:
    until = f" until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    return {
        "event": "ip_blocked",
        "text": f"Blocked {_listed(targets)} ({slack_text(source)}{until}): "
        f"{slack_text(reason or 'no reason given')}",
        "targets": targets[:100],
        "count": len(targets),
        "reason": reason,
        "source": source,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def unblocked_event(targets: list[str], removed: int, **_arguments: Any) -> dict:
    return {
        "event": "ip_unblocked",
        "text": f"Unblocked {_listed(targets)}",
        "targets": targets[:100],
        "count": removed,
    }


def within_cap() -> bool:
    """One more alert this minute? Counted site-wide in Redis."""
    key = f"{CAP_KEY}{int(time.time() // 60)}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, 120)
    sent_this_minute = pipe.execute()[0]
    return sent_this_minute <= conf.ALERT_WEBHOOK_PER_MINUTE


def queue(event: dict) -> None:
    if not conf.ALERT_WEBHOOK_URL:
        return
    try:
        if not within_cap():
            get_redis().incr(SUPPRESSED_KEY)
            metrics.add_to_site_counters({"alert:suppressed": 1})
            return
        suppressed = int(get_redis().getset(SUPPRESSED_KEY, 0) or 0)
        if suppressed:
            event = {**event, "suppressed": suppressed}
            event["text"] += f" ({suppressed} earlier alerts over the per-minute cap not sent)"
        send_by_name(WEBHOOK_ACTOR, WEBHOOK_QUEUE, args=(event,))
    except RedisError as error:
        logger.warning("alert not queued (Redis unreachable: %s): %s", error, event["text"])


def deliver(event: dict) -> None:
    """POST the event; raise on failure so Dramatiq retries with backoff. An event naming an
    address forgotten since it was queued is dropped (forget_ip)."""
    try:
        erased = erasure.erased_networks()
    except RedisError:
        erased = None
    if erased is not None and erasure.names_erased(erasure.event_addresses(event), erased):
        metrics.add_to_site_counters({"alert:erased": 1})
        return
    try:
        response = requests.post(
            conf.ALERT_WEBHOOK_URL, json=event, timeout=(2.0, conf.ALERT_WEBHOOK_TIMEOUT)
        )
    except requests.RequestException as error:
        metrics.add_to_site_counters({"alert:failed": 1})
        raise RuntimeError(f"alert webhook unreachable: {type(error).__name__}") from error
    if response.status_code >= 300:
        metrics.add_to_site_counters({"alert:failed": 1})
        raise RuntimeError(f"alert webhook answered HTTP {response.status_code}")
    metrics.add_to_site_counters({"alert:sent": 1})


def when_enabled(build: Callable[..., dict]) -> Callable[..., None]:
    def handler(sender: type, **arguments: Any) -> None:
        # Without a webhook nothing is built: the drain flags hundreds of addresses a batch
        # under a scan, and each event's text reverses console URLs.
        if conf.ALERT_WEBHOOK_URL:
            queue(build(**arguments))

    return handler


def connect() -> None:
    ip_flagged.connect(
        when_enabled(flagged_event),
        sender=SuspiciousIP,
        weak=False,
        dispatch_uid="security.alerts.flagged",
    )
    ip_blocked.connect(
        when_enabled(blocked_event),
        sender=BlockedIP,
        weak=False,
        dispatch_uid="security.alerts.blocked",
    )
    ip_unblocked.connect(
        when_enabled(unblocked_event),
        sender=BlockedIP,
        weak=False,
        dispatch_uid="security.alerts.unblocked",
    )
