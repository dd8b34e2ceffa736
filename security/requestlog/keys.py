"""Every Redis key, consumer group and queued message name of request logging, in one place."""

from ..conf import conf

DRAIN_PENDING_KEY = "security:requestlog:drain-pending"
DRAIN_GROUP = "drain"
# One key per worker process that drains, renewed while it lives (consumers.py).
ALIVE_PREFIX = "security:requestlog:alive:"
DEAD_LETTER_SUFFIX = ":dead"
# The drain actor, enqueued by name so the web processes need not import the worker's tasks.
DRAIN_ACTOR = "drain_request_logs"
DRAIN_QUEUE = "default"


def stream() -> str:
    return conf.LOG_STREAM


def dead_letters() -> str:
    return conf.LOG_STREAM + DEAD_LETTER_SUFFIX


def alive(process: str) -> str:
    return ALIVE_PREFIX + process
