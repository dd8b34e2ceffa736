"""Dramatiq's Redis broker on the app's Redis client: the queues follow REDIS_URL whatever its
form, a Sentinel URL included (dramatiq's own broker takes a plain URL or a client).

    DRAMATIQ_BROKER = {"BROKER": "security.broker.RedisBroker", "OPTIONS": {"url": REDIS_URL}, ...}
"""

from typing import Any

from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker

from .redis_client import client_from_url

# dramatiq polls (no blocking command), so a few seconds bound every call: a web process's
# flush thread asking for a drain must not hang on a Redis that went silent (without a
# time-out it waited for TCP to give up), and a worker's consumer restarts after an error.
CLIENT_OPTIONS = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 3.0,
    "socket_keepalive": True,
    "health_check_interval": 15,
}


class RedisBroker(DramatiqRedisBroker):
    def __init__(
        self, *, url: str | None = None, client_options: dict | None = None, **options: Any
    ) -> None:
        if url is not None and "client" not in options:
            options["client"] = client_from_url(url, **(client_options or CLIENT_OPTIONS))
        # dramatiq's RedisBroker.__init__ is unannotated (untyped_calls_exclude misses super()).
        super().__init__(**options)  # type: ignore[no-untyped-call]
