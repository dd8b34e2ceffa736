import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
import redis
from django.conf import settings

from security import geo
from security.blocking import georules
from security.blocking.blocklist import blocklist
from security.requestlog import stream
from security.requestlog.buffer import log_buffer
from security.requestlog.records import decode_batch, encode_batch


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(autouse=True)
def clean_state(redis_client: redis.Redis) -> Iterator[None]:
    """Each test starts with an empty test Redis and fresh per-process state."""
    redis_client.flushdb()
    blocklist.reset()
    log_buffer.clear()
    geo.geo_api.__init__()
    for database in (geo.local_database, geo.raw_city_database, geo.raw_asn_database):
        database.reset()
    georules.rules.cache_clear()
    georules.configured.cache_clear()
    georules._placed.cache_clear()
    georules.Readers.next_check = 0.0
    dramatiq.get_broker().flush_all()
    yield
    log_buffer.clear()


def wait_for(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.1):
    """Poll until condition() is truthy; return its value, or fail with the last value."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = condition()
    assert value, f"condition not met within {timeout}s"
    return value


def rate_window_with_room(client_ip: str, needed: float = 20.0) -> None:
    """django-ratelimit counts in fixed windows (each key with its own offset in the minute),
    so a burst that straddles a boundary is counted in two. A test that sends a limited burst
    slowly (a real server hashing real passwords) waits, when need be, for a window with room."""
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory
    from django_ratelimit.core import _get_window

    from security.ratelimits import client_key

    request = RequestFactory().get("/", REMOTE_ADDR=client_ip)
    request.user = AnonymousUser()
    left = _get_window(client_key("", request), 60) - time.time()
    if left < needed:
        # The window's last whole second still belongs to it (django-ratelimit compares whole
        # seconds): wait until the one after.
        time.sleep(left + 1.5)


def records_in_stream(client: redis.Redis, stream: str = "security:requestlog") -> int:
    """Log records waiting in the stream (each entry is one flushed batch)."""
    return sum(len(decode_batch(fields[b"b"])) for _id, fields in client.xrange(stream))


def publish_records(batch: list) -> stream.Published:
    """Put records into the stream as a web process's flush would."""
    return stream.publish([encode_batch(batch)])


def operator(username: str, *permissions: str):
    """A staff user holding exactly these permissions ('security.view_requestlog', ...)."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username, password=f"pw-{username}-12345", is_staff=True)
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


EVERY_OPERATOR_PERMISSION = (
    "security.view_requestlog",
    "security.view_suspiciousip",
    "security.change_suspiciousip",
    "security.add_blockedip",
    "security.change_blockedip",
    "security.add_allowedip",
    "security.change_allowedip",
)


@pytest.fixture
def staff_client():
    """A test client signed in as a staff user holding every operator permission."""
    from django.test import Client

    client = Client()
    client.force_login(operator("ops", *EVERY_OPERATOR_PERMISSION))
    return client
