"""What kind of request a stored row was, for the analytics rollups: the operator's own traffic
or a visitor's, a person or a bot, a pageview, a static file, and the site that referred it.

Own traffic: requests of staff users, and requests to the admin, to this app's pages (the
console, metrics, health) and to this app's static files, whoever sent them; plus any path
prefix in SECURITY_ANALYTICS_OWN_PATHS. A pageview: a GET answered 2xx, not a static file, from
a person's browser. A referring site: the referer's host, unless it is one of the site's own
(ALLOWED_HOSTS).
"""

from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.http.request import validate_host
from django.urls import NoReverseMatch, reverse

from ..conf import conf
from . import agents

# GoAccess's static files (its --static-file defaults), with today's image and font formats.
STATIC_SUFFIXES = (
    ".css", ".js", ".mjs", ".map", ".jpg", ".jpeg", ".png", ".gif", ".ico", ".svg", ".webp",
    ".avif", ".bmp", ".tif", ".tiff", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".pdf",
    ".txt", ".csv", ".zip", ".gz", ".tgz", ".tar", ".rar", ".mp3", ".mp4", ".webm", ".ogg",
    ".m4a", ".wav", ".avi", ".flv", ".mpeg", ".mpg", ".doc", ".docx", ".xls", ".xlsx",
    ".ppt", ".pptx", ".iso", ".exe", ".webmanifest",
)  # fmt: skip
CONSOLE_URL_NAMES = (
    "security:dashboard",
    "security:events",
    "security:analytics",
    "security:metrics",
)


class Facets(NamedTuple):
    own: bool
    agent: agents.Agent
    static: bool
    pageview: bool
    referer_host: str


class Context(NamedTuple):
    """What one batch is judged against: read once per batch, at use time (settings can
    change, and tests override them)."""

    own_prefixes: tuple[str, ...]
    static_prefixes: tuple[str, ...]
    site_hosts: tuple[str, ...]
    staff: frozenset[str]


def _reversed(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _url_path(url: str | None) -> str:
    return urlsplit(url or "").path


def own_prefixes() -> tuple[str, ...]:
    prefixes = list(conf.ANALYTICS_OWN_PATHS)
    admin = _reversed("admin:index")
    if admin:
        prefixes.append(admin)
    health = _reversed("security:health")
    mount = health[: -len("health")] if health else ""
    if mount and mount != "/":
        prefixes.append(mount)  # every page of the app's URLconf
    else:  # the app mounted at the site's root: its own pages only
        prefixes += [path for name in CONSOLE_URL_NAMES if (path := _reversed(name))]
    static = _url_path(settings.STATIC_URL)
    if static:
        prefixes.append(static.rstrip("/") + "/security/")
    return tuple(prefix for prefix in prefixes if prefix and prefix != "/")


def console_prefixes() -> tuple[str, ...]:
    """own_prefixes() but the admin's: the operator looking at this app's pages and files,
    whereas the admin's login is a way in that attackers try."""
    admin = _reversed("admin:index")
    prefixes = [prefix for prefix in own_prefixes() if prefix != admin]
    static = _url_path(settings.STATIC_URL)
    if admin and static:
        prefixes.append(static.rstrip("/") + "/admin/")  # the admin's own files
    return tuple(prefixes)


def static_prefixes() -> tuple[str, ...]:
    found = (_url_path(getattr(settings, name, "")) for name in ("STATIC_URL", "MEDIA_URL"))
    return tuple(prefix for prefix in found if prefix and prefix != "/")


def staff_ids(user_ids: Iterable) -> frozenset[str]:
    wanted = {str(pk) for pk in user_ids if pk is not None}
    if not wanted:
        return frozenset()
    model = get_user_model()
    try:
        model._meta.get_field("is_staff")
    except FieldDoesNotExist:  # a custom user model without the admin's flag
        return frozenset()
    staff = model.objects.filter(pk__in=wanted, is_staff=True).values_list("pk", flat=True)
    return frozenset(str(pk) for pk in staff)


def context_for(rows: list) -> Context:
    return Context(
        own_prefixes(),
        static_prefixes(),
        tuple(host for host in settings.ALLOWED_HOSTS if host != "*"),
        staff_ids({row.user_id for row in rows}),
    )


@lru_cache(maxsize=10_000)
def referer_host(referer: str) -> str:
    if not referer:
        return ""
    try:
        return (urlsplit(referer).hostname or "").rstrip(".")
    except ValueError:  # a malformed IPv6 literal
        return ""


def is_static(path: str, prefixes: tuple[str, ...]) -> bool:
    return path.casefold().endswith(STATIC_SUFFIXES) or path.startswith(prefixes)


def facets(rows: list, context: Context | None = None) -> list[Facets]:
    context = context or context_for(rows)
    internal: dict[str, bool] = {}
    static_paths: dict[str, bool] = {}
    found = []
    for row in rows:
        agent = agents.classify(row.user_agent)
        static = static_paths.get(row.path)
        if static is None:
            static = static_paths[row.path] = is_static(row.path, context.static_prefixes)
        host = referer_host(row.referer)
        if host:
            if host not in internal:
                internal[host] = validate_host(host, context.site_hosts)
            if internal[host]:
                host = ""
        own = row.path.startswith(context.own_prefixes) or (
            row.user_id is not None and str(row.user_id) in context.staff
        )
        pageview = (
            row.method == "GET" and 200 <= row.status_code < 300 and not static and not agent.bot
        )
        found.append(Facets(own, agent, static, pageview, host))
    return found
