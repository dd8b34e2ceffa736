"""Three small middleware, outermost first: who is the client, log the request, turn away the
blocked. Each only calls into the app's functions."""

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .blocklist import BlocklistUnavailable, is_blocked
from .client_ip import get_client_ip
from .logsink import log_buffer
from .records import build_record

logger = logging.getLogger(__name__)

GetResponse = Callable[[HttpRequest], HttpResponse]


class ClientIPMiddleware:
    """Sets request.client_ip once; everything else reads it from there."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        get_client_ip(request)
        return self.get_response(request)


class RequestLogMiddleware:
    """Appends one record per request to the in-process buffer, after the response is known."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        log_buffer.append(build_record(request, response.status_code, started))
        return response


class BlockedIPMiddleware:
    """Answers blocked clients with a bare 403 before any other work, for every path."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            blocked = is_blocked(get_client_ip(request))
        except BlocklistUnavailable:
            # Never loaded (database down since start): refuse rather than let anyone in.
            logger.error("blocklist unavailable: answering 503")
            return HttpResponse(
                b"Service unavailable\n", status=503, content_type="text/plain; charset=utf-8"
            )
        if blocked:
            request.security_blocked = True  # type: ignore[attr-defined]
            return HttpResponse(
                b"Forbidden\n", status=403, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)
