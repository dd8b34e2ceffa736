"""The middleware under ASGI, in process: async mode end to end, no thread hop per request.

The ASGI test client takes the peer as the scope's `client`, not as REMOTE_ADDR."""

import pytest
from asgiref.sync import iscoroutinefunction
from django.test import AsyncClient, override_settings

from security.blocking import changes
from security.middleware import BlockedIPMiddleware, ClientIPMiddleware, RequestLogMiddleware
from security.models import RequestLog
from security.requestlog import drain
from security.requestlog.buffer import log_buffer

pytestmark = pytest.mark.django_db(transaction=True)


class PeerClient(AsyncClient):
    """An ASGI test client whose connections come from one peer ('' is a unix-socket peer)."""

    def __init__(self, ip: str) -> None:
        super().__init__()
        self.peer = ip

    def _base_scope(self, **request) -> dict:
        scope = super()._base_scope(**request)
        scope["client"] = [self.peer, 40000] if self.peer else None
        return scope


def peer(ip: str) -> AsyncClient:
    return PeerClient(ip)


async def async_view(request):
    return None


def test_the_middleware_run_in_async_mode_under_an_async_stack():
    for middleware in (ClientIPMiddleware, RequestLogMiddleware, BlockedIPMiddleware):
        assert middleware.async_capable and middleware.sync_capable
        assert iscoroutinefunction(middleware(async_view))
        assert not iscoroutinefunction(middleware(lambda request: None))


async def test_async_requests_are_logged_blocked_and_limited():
    assert (await peer("203.0.113.120").get("/")).status_code == 200
    await blocklist_block("203.0.113.121")
    assert (await peer("203.0.113.121").get("/")).status_code == 403
    answers = [(await peer("203.0.113.122").post("/login/", {"username": "x"})) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[-1]["Retry-After"]
    await flush_and_drain()
    assert await RequestLog.objects.filter(ip_address="203.0.113.121", status_code=403).aexists()
    assert await RequestLog.objects.filter(ip_address="203.0.113.122").acount() == 6


@pytest.mark.urls("tests.urls")
async def test_rate_limit_decorator_works_on_async_views():
    codes = [(await peer("203.0.113.123").post("/async-contact/")).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


@override_settings(SECURITY_TRUSTED_PROXIES=["unix"])
async def test_unknown_client_is_refused_under_asgi_too():
    assert (await peer("").get("/")).status_code == 400


async def blocklist_block(ip: str) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(changes.block)([ip])


async def flush_and_drain() -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(log_buffer.flush)()
    await sync_to_async(drain.drain)()


async def test_inline_detection_refuses_an_exploit_under_asgi_too(settings):
    from .test_inline import SEARCHES, SQLI

    settings.SECURITY_DETECT_INLINE = True
    assert (await peer("198.51.100.151").get(SQLI)).status_code == 403
    assert (await peer("198.51.100.151").get(SEARCHES[0])).status_code == 200
