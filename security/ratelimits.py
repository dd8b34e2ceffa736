"""Rate limits for the ways into an account, on django-ratelimit's counters.

Two ways to limit a view, one counting rule:
- by name or path, in settings (SECURITY_RATELIMIT_VIEWS, SECURITY_RATELIMIT_PATHS), applied by
  security.middleware.RateLimitMiddleware: the site login, the admin login and password reset
  are limited without touching their URLconf;
- by decorator, on a site's own view:

    from security.ratelimits import rate_limit

    @rate_limit()                   # POSTs: 5/min per client IP, 10/min per signed-in user
    def change_password(request): ...

Anonymous clients are keyed by client IP (IPv6 by /64), signed-in users by user id. Over the
limit the view is not run: the client gets a 429 with Retry-After. While the counters cannot
be reached, SECURITY_RATELIMIT_FAIL_OPEN decides (django-ratelimit itself does not catch a
Redis connection error, its issue #333).
"""

import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from functools import lru_cache, wraps
from typing import Any, NamedTuple

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from .client_ip import get_client_ip
from .conf import conf

logger = logging.getLogger(__name__)

FALLBACK_RETRY_AFTER = 60
IPV6_MASK = 64
WARN_EVERY_SECONDS = 60.0
_last_warning = 0.0


def current_rate(group: str, request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return conf.RATE_AUTHENTICATED
    return conf.RATE_ANONYMOUS


def client_key(group: str, request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    ip = get_client_ip(request) or "unknown"
    if ":" in ip:
        ip = str(ipaddress.ip_network(f"{ip}/{IPV6_MASK}", strict=False).network_address)
    return f"ip:{ip}"


def view_group(view: Callable) -> str:
    """One counter per view. Every as_view() function has the same name, so class-based views
    are told apart by their class."""
    target = getattr(view, "view_class", view)
    return f"{target.__module__}.{target.__qualname__}"


def _counters_unavailable(why: object) -> int | None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARN_EVERY_SECONDS:
        _last_warning = now
        logger.warning(
            "rate-limit counters unreachable (%s): failing %s",
            why,
            "open" if conf.RATELIMIT_FAIL_OPEN else "closed",
        )
    return None if conf.RATELIMIT_FAIL_OPEN else FALLBACK_RETRY_AFTER


def check_rate(request: HttpRequest, group: str, methods: Sequence[str]) -> int | None:
    """Count this request; the seconds to wait when it is over the limit, else None."""
    try:
        usage = get_usage(
            request,
            group=group,
            key=client_key,
            rate=current_rate,
            method=list(methods),
            increment=True,
        )
    except RedisError as error:
        return _counters_unavailable(error)
    if usage is None or not usage["should_limit"]:
        return None
    if usage["time_left"] < 0:  # the counter could not be read
        return _counters_unavailable("no count")
    return max(1, usage["time_left"])


def too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    response = render(
        request, "security/ratelimited.html", {"retry_after": retry_after}, status=429
    )
    response["Retry-After"] = str(retry_after)
    return response


def rate_limit(methods: Sequence[str] = ("POST",)) -> Callable:
    # A view is sync or async (it returns a response or a coroutine of one): Callable[..., Any].
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        group = view_group(view)
        wrapped: Callable[..., Any]

        if iscoroutinefunction(view):

            @wraps(view)
            async def async_wrapped(
                request: HttpRequest, *args: Any, **kwargs: Any
            ) -> HttpResponse:
                retry_after = await sync_to_async(check_rate)(request, group, methods)
                if retry_after is not None:
                    return too_many_requests(request, retry_after)
                return await view(request, *args, **kwargs)

            wrapped = async_wrapped
        else:

            @wraps(view)
            def sync_wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                retry_after = check_rate(request, group, methods)
                if retry_after is not None:
                    return too_many_requests(request, retry_after)
                return view(request, *args, **kwargs)

            wrapped = sync_wrapped
        # RateLimitMiddleware leaves decorated views to their decorator: one count a request.
        # (A marker attribute on a function, which no function type declares.)
        wrapped.security_rate_limited = True  # type: ignore[union-attr]
        return wrapped

    return decorator


class Limited(NamedTuple):
    methods: tuple[str, ...]
    views: frozenset[str]
    paths: tuple[str, ...]


LIMIT_SETTINGS = {
    "SECURITY_RATELIMIT_METHODS",
    "SECURITY_RATELIMIT_VIEWS",
    "SECURITY_RATELIMIT_PATHS",
}


@lru_cache(maxsize=1)
def limited() -> Limited:
    # RateLimitMiddleware asks on every request: read the settings once, again only when
    # they change (override_settings in tests).
    return Limited(conf.RATELIMIT_METHODS, frozenset(conf.RATELIMIT_VIEWS), conf.RATELIMIT_PATHS)


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in LIMIT_SETTINGS:
        limited.cache_clear()


# Every way into an account named in settings shares one counter per client: the site login
# and the admin login counted apart would give one address two limits' worth of guesses.
ACCOUNT_GROUP = "security:ways-in"


def settings_group(request: HttpRequest, named: Limited) -> str | None:
    """The counter a request falls under by SECURITY_RATELIMIT_VIEWS/_PATHS, if any."""
    match = request.resolver_match
    if match is not None and match.view_name in named.views:
        return ACCOUNT_GROUP
    if request.path.startswith(named.paths):
        return ACCOUNT_GROUP
    return None
