"""Redis clients from one URL, for every part of the app alike.

`REDIS_URL` names either one server (`redis://`, `rediss://`, `unix://`, redis-py's forms) or a
service watched by Sentinels:

    redis+sentinel://[[user]:password@]host1:26379,host2:26379,host3:26379/mymaster/0
    rediss+sentinel://...        (TLS to the Redis servers)
    ...?sentinel_password=...    (when the Sentinels themselves ask for a password)

The password is the Redis servers'; the port defaults to 26379; the database to 0. Behind
Sentinel each new connection asks the Sentinels where the primary is, and a connection to a
primary that was demoted fails, so clients follow a failover by themselves (redis-py's
SentinelConnectionPool). One client per URL per process; redis-py's pools reconnect by
themselves after a fork.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from redis.sentinel import (
    MasterNotFoundError,
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
)
from redis.utils import SENTINEL

from .conf import conf

T = TypeVar("T")

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
DEFAULT_SENTINEL_PORT = 26379


class RetryOnce(Retry):
    """A command whose connection broke (a pooled connection to a primary that died, or was
    demoted by a failover) is sent once more on a new connection, which asks the Sentinels
    anew. Only then: a time-out is not retried, so a silent Redis costs one socket time-out,
    and neither is "no primary found", which the Sentinels have just said."""

    def __init__(self) -> None:
        super().__init__(NoBackoff(), 1, supported_errors=(RedisConnectionError,))

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        def retryable(error: Exception) -> bool:
            if isinstance(error, MasterNotFoundError):
                return False
            return is_retryable is None or is_retryable(error)

        return super().call_with_retry(
            do, fail, is_retryable=retryable, with_failure_count=with_failure_count
        )


def retry_once() -> Retry:
    return RetryOnce()


def no_retry() -> Retry:
    # redis-py's own default for a client made from a host and port retries ten times with
    # backoff: a silent Sentinel would hold each look-up for seconds. There are others to ask.
    return Retry(NoBackoff(), 0)


class SentinelConnection(SentinelManagedConnection):
    """redis-py's connection to a Sentinel-watched primary, with two of its gaps closed.

    - Its read_response, unlike every other redis-py connection's, keeps a connection whose read
      timed out: the late reply then answers the next command sent on it, and every command
      after that gets the reply of the one before (seen as XINFO CONSUMERS failing with XGROUP
      CREATE's BUSYGROUP). This restores the default of the connections it derives from.
    - Only its connect() asks the Sentinels; a command that reconnects by itself (a resend
      after a broken connection) went back to the address it had, the dead primary's. Here
      every connection to the primary starts by asking where the primary is.
    """

    def connect(self) -> None:
        if not self.connection_pool.is_master:
            # redis-py leaves connect() unannotated; untyped_calls_exclude misses super() calls.
            return super().connect()  # type: ignore[no-untyped-call]
        return self.retry.call_with_retry(
            lambda: self.connect_check_health(
                check_health=self.connection_pool.check_connection, retry_socket_connect=False
            ),
            lambda _error: None,
        )

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if not self._sock and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        return super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )

    def read_response(
        self,
        disable_decoding: bool = False,
        *,
        timeout: float | object = SENTINEL,
        disconnect_on_error: bool | None = True,
        push_request: bool | None = False,
    ) -> Any:
        return super().read_response(
            disable_decoding=disable_decoding,
            timeout=timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )


class SentinelSSLConnection(SentinelConnection, SSLConnection):
    pass


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


def is_sentinel_url(url: str) -> bool:
    return urlsplit(url).scheme in SENTINEL_SCHEMES


def _host_and_port(item: str, url: str) -> tuple[str, int]:
    if item.startswith("["):  # [2001:db8::1]:26379
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not host:
        raise ValueError(f"a Sentinel without a host in {url!r}")
    try:
        return host, int(port) if port else DEFAULT_SENTINEL_PORT
    except ValueError:
        raise ValueError(f"a Sentinel port that is not a number in {url!r}") from None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The Sentinels, service name, database and credentials a redis+sentinel:// URL names."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL (redis+sentinel://...): {url!r}")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    sentinels = tuple(_host_and_port(item.strip(), url) for item in hosts.split(",") if item)
    if not sentinels:
        raise ValueError(f"no Sentinel named in {url!r}")
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2:
        raise ValueError(f"expected /service-name[/db] after the Sentinels in {url!r}")
    try:
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError:
        raise ValueError(f"the database in {url!r} is not a number") from None
    query = parse_qs(parts.query)
    return SentinelTarget(
        sentinels=sentinels,
        service=unquote(path[0]),
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=query.get("sentinel_password", [None])[0],
        ssl=SENTINEL_SCHEMES[parts.scheme],
    )


def pool_from_url(url: str, **options: Any) -> redis.ConnectionPool:
    """A connection pool for either kind of URL, with redis-py's connection options."""
    options.setdefault("retry", retry_once())
    if not is_sentinel_url(url):
        return redis.ConnectionPool.from_url(url, **options)
    target = parse_sentinel_url(url)
    # The Sentinels are asked with the same socket time-outs as the servers: a Sentinel that
    # went silent must cost no more than a server that did.
    sentinel_options = {key: value for key, value in options.items() if key.startswith("socket_")}
    sentinel_options["retry"] = no_retry()
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options)
    return SentinelConnectionPool(
        target.service,
        sentinel,
        db=target.db,
        username=target.username,
        password=target.password,
        connection_class=SentinelSSLConnection if target.ssl else SentinelConnection,
        **options,
    )


def client_from_url(url: str, **options: Any) -> redis.Redis:
    return redis.Redis(connection_pool=pool_from_url(url, **options))


class ConnectionPool:
    """For Django's Redis cache: `"OPTIONS": {"pool_class": "security.redis_client.ConnectionPool"}`
    lets its LOCATION be a Sentinel URL too (give LOCATION as a one-item list, since Django
    splits a string at commas)."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> redis.ConnectionPool:
        return pool_from_url(url, **options)


@lru_cache(maxsize=4)
def _client_for(url: str, options: tuple) -> redis.Redis:
    return client_from_url(url, **dict(options))


def get_redis() -> redis.Redis:
    return _client_for(conf.REDIS_URL, tuple(sorted(conf.REDIS_CLIENT_OPTIONS.items())))
