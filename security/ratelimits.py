"""Rate limits for sensitive views, on django-ratelimit's counters.

    from security.ratelimits import sensitive

    @sensitive()                    # POSTs: 5/min per client IP, 10/min per signed-in user
    def change_password(request): ...

Anonymous clients are keyed by client IP (IPv6 by /64, django-ratelimit's default mask),
signed-in users by user id. Over the limit the view is not run: RatelimitMiddleware turns the
Ratelimited exception into security.views.ratelimited, a 429 with Retry-After.
"""

from collections.abc import Callable, Sequence
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage
from django_ratelimit.exceptions import Ratelimited

from .conf import conf

FALLBACK_RETRY_AFTER = 60


def current_rate(group: str, request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return conf.RATE_AUTHENTICATED
    return conf.RATE_ANONYMOUS


def view_group(view: Callable) -> str:
    """One counter per view. Every as_view() function has the same name, so class-based views
    are told apart by their class."""
    target = getattr(view, "view_class", view)
    return f"{target.__module__}.{target.__qualname__}"


def check_rate(request: HttpRequest, group: str, methods: Sequence[str]) -> None:
    usage = get_usage(
        request,
        group=group,
        key="user_or_ip",
        rate=current_rate,
        method=list(methods),
        increment=True,
    )
    if usage is not None and usage["should_limit"]:
        # time_left is -1 when the counter could not be read and the policy is to fail closed.
        retry_after = usage["time_left"] if usage["time_left"] > 0 else FALLBACK_RETRY_AFTER
        request.ratelimit_retry_after = retry_after  # type: ignore[attr-defined]
        raise Ratelimited()


def sensitive(methods: Sequence[str] = ("POST",)) -> Callable:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        group = view_group(view)

        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            check_rate(request, group, methods)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
