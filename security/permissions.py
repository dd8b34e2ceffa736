"""Who may do what: Django's model permissions, never `is_staff` alone.

| action                                   | permissions                              |
|------------------------------------------|------------------------------------------|
| see the dashboard and its data.json      | security.view_requestlog                 |
| see the suspicious IPs                   | security.view_suspiciousip               |
| block (dashboard, admin actions)         | security.add_blockedip + change_blockedip |
| allowlist (admin action)                 | security.add_allowedip + change_allowedip |
| dismiss (admin action)                   | security.change_suspiciousip             |
| unblock (address page)                   | security.delete_blockedip                |
| forget (address page)                    | security.delete_requestlog + delete_suspiciousip |
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from .conf import conf

VIEW_DASHBOARD = ("security.view_requestlog",)
VIEW_SUSPICIOUS = ("security.view_suspiciousip",)
BLOCK = ("security.add_blockedip", "security.change_blockedip")
ALLOWLIST = ("security.add_allowedip", "security.change_allowedip")
DISMISS = ("security.change_suspiciousip",)
UNBLOCK = ("security.delete_blockedip",)
FORGET = ("security.delete_requestlog", "security.delete_suspiciousip")


def may(request: HttpRequest, permissions: tuple[str, ...]) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.has_perms(permissions))


def permission_required(*permissions: str) -> Callable:
    """Anonymous users go to the login page; signed-in users without the permissions get 403
    (a redirect to a login they already passed would loop)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), resolve_url(conf.LOGIN_URL))
            if not may(request, permissions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
