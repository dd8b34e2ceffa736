"""Four small middleware, outermost first: who is the client, log the request, turn away the
blocked (and the unknown), limit the ways into an account. Each only calls into the app's
functions, and each serves WSGI and ASGI alike: under ASGI none of them costs a thread hop,
except the first blocklist load of a process and the rate-limit count of a limited view."""

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import account_limits
from .blocking import georules
from .blocking.blocklist import BlocklistUnavailable, blocklist, is_allowlisted
from .client_ip import get_client_ip
from .conf import conf
from .detection import inline
from .ratelimits import Limited, check_rate, limited, settings_group, too_many_requests
from .requestlog.buffer import log_buffer
from .requestlog.records import build_record

logger = logging.getLogger(__name__)

GetResponse = Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]


class SyncAndAsyncMiddleware:
    """Django's sync-and-async middleware shape (as django-cors-headers and django-htmx do).

    Each subclass's __call__ does the sync work itself and hands an async request to
    __acall__: a layer in between (a shared __call__ calling a handle()) would cost every
    request another Python call per middleware, about 1,000 instructions. A layer with nothing
    to await returns what the next one returns, which under ASGI is the awaitable Django awaits.
    get_response is typed as either kind of handler, which mypy cannot follow: the calls carry
    `type: ignore` for the other half of the union (a cast() on the hot path costs a call).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        raise NotImplementedError  # each subclass's own, for the reason above


class ClientIPMiddleware(SyncAndAsyncMiddleware):
    """Sets request.client_ip once; everything else reads it from there."""

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        get_client_ip(request)
        return self.get_response(request)


class RequestLogMiddleware(SyncAndAsyncMiddleware):
    """Appends one record per request to the in-process buffer, after the response is known
    (the flush thread counts the outcomes for the metrics, off the request path)."""

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.async_mode:
            return self.__acall__(request)
        started = time.monotonic()
        response = self.get_response(request)
        log_buffer.append(build_record(request, response.status_code, started))  # type: ignore[union-attr]
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = await self.get_response(request)  # type: ignore[misc]
        log_buffer.append(build_record(request, response.status_code, started))
        return response


def plain_response(status: int, text: bytes) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


class UnknownClientLog:
    """Says once per process why requests without a client address are refused."""

    said = False

    @classmethod
    def say(cls, request: HttpRequest) -> None:
        if not cls.said:
            cls.said = True
            logger.error(
                "refusing requests whose client address cannot be determined (REMOTE_ADDR=%r); "
                "behind a proxy on a unix socket add 'unix' to SECURITY_TRUSTED_PROXIES and "
                "have the proxy set %s",
                request.META.get("REMOTE_ADDR", ""),
                conf.FORWARDED_HEADER,
            )


class BlockedIPMiddleware(SyncAndAsyncMiddleware):
    """Answers blocked clients with a bare 403 before any other work, for every path, and
    clients it cannot name with a 400: an unknown client could be a blocked one. With
    SECURITY_DETECT_INLINE, a request carrying an exploit is answered 403 here too."""

    def decide(self, request: HttpRequest) -> HttpResponse | None:
        state = request.__dict__  # ClientIPMiddleware's answer, without another call
        ip = state["client_ip"] if "client_ip" in state else get_client_ip(request)
        if ip is None:
            UnknownClientLog.say(request)
            return plain_response(400, b"Bad request: the client address is unknown\n")
        try:
            blocked = blocklist.is_blocked(ip)
        except BlocklistUnavailable:
            # Never loaded (database down since start): refuse rather than let anyone in, but
            # static files need no database and nobody is protected by refusing them.
            if request.path.startswith(static_prefix()):
                return None
            logger.error("blocklist unavailable: answering 503")
            return plain_response(503, b"Service unavailable\n")
        if blocked or (georules.configured() and not is_allowlisted(ip) and georules.denial(ip)):
            # Read by the log record (build_record); HttpRequest does not declare it.
            request.security_blocked = True  # type: ignore[attr-defined]
            return plain_response(403, b"Forbidden\n")
        if (inline.Mode.current or inline.mode()) != inline.OFF:
            try:
                refusal = inline.refusal(request, ip)
            except Exception:  # a fault of detection serves the page; the drain still reads it
                logger.exception("inline detection failed; the request is served")
                refusal = None
            if refusal is not None and refusal.refused:
                # Not security_blocked: the record must reach detection, which flags the rule.
                return plain_response(403, b"Forbidden\n")
        return None

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.async_mode:
            return self.__acall__(request)
        return self.decide(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if not blocklist.loaded:
            with contextlib.suppress(BlocklistUnavailable):  # decide() answers for it
                await sync_to_async(blocklist.load_first)()
        return self.decide(request) or await self.get_response(request)  # type: ignore[misc]


def static_prefix() -> str:
    url = getattr(settings, "STATIC_URL", None) or "/static/"
    return url if url.startswith("/") else "/" + url


class RateLimitMiddleware(SyncAndAsyncMiddleware):
    """Limits the views and paths named in SECURITY_RATELIMIT_VIEWS / _PATHS. It decides in
    process_view, after the URL is resolved and the user is known, before the view runs."""

    def __init__(self, get_response: GetResponse) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django awaits process_view when it returns a coroutine (async_capable middleware).
            self.process_view = self.aprocess_view  # type: ignore[method-assign, assignment]

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        return self.get_response(request)

    @staticmethod
    def group_for(request: HttpRequest, view: Callable, named: Limited) -> str | None:
        if request.method not in named.methods:
            return None
        if getattr(view, "security_rate_limited", False):
            return None
        return settings_group(request, named)

    @staticmethod
    def retry_after(request: HttpRequest, group: str, methods: tuple[str, ...]) -> int | None:
        """The client's limit first, then the account's (failed logins from every client)."""
        wait = check_rate(request, group, methods)
        if wait is None and request.method == "POST":
            wait = account_limits.retry_after(request)
        return wait

    def process_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        named = limited()
        if request.method not in named.methods:  # most requests: asked before any call
            return None
        group = self.group_for(request, view, named)
        if group is None:
            return None
        retry_after = self.retry_after(request, group, named.methods)
        return None if retry_after is None else too_many_requests(request, retry_after)

    async def aprocess_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        named = limited()
        group = self.group_for(request, view, named)
        if group is None:
            return None
        retry_after = await sync_to_async(self.retry_after)(request, group, named.methods)
        return None if retry_after is None else too_many_requests(request, retry_after)
