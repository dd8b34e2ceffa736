"""System checks: what a host site must add, and misconfigurations that would silently weaken
the app, caught at start. Ids are the app's own (`ip_tracking.*`): Django already owns
`security.W001`..., and silencing one would silence both."""

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .client_ip import compile_trust
from .conf import conf
from .matcher import NetworkSet

PREFIX = "ip_tracking"
OUR_MIDDLEWARE = [
    "security.middleware.ClientIPMiddleware",
    "security.middleware.RequestLogMiddleware",
    "security.middleware.BlockedIPMiddleware",
    "security.middleware.RateLimitMiddleware",
]
PERIODIQ_MIDDLEWARE = "periodiq.PeriodiqMiddleware"
# A missing GeoIP database is news where a site's health is looked at (check, a server or the
# worker starting), not on every command an operator or cron runs (migrate, block_ip, the
# scheduler). None: the checks run outside a command (a test), and say it.
GEOIP_WARNING_COMMANDS = {None, "check", "runserver", "rundramatiq"}
UNSHARED_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register(checks.Tags.security)
def check_middleware(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    middleware = list(settings.MIDDLEWARE)
    positions = [middleware.index(m) if m in middleware else -1 for m in OUR_MIDDLEWARE]
    if -1 not in positions and positions == sorted(positions) and positions[0] == 0:
        return []
    return [
        checks.Error(
            "The security middleware are missing or out of order.",
            hint="Put these first in MIDDLEWARE, in this order: " + ", ".join(OUR_MIDDLEWARE),
            id=f"{PREFIX}.E001",
        )
    ]


@checks.register(checks.Tags.security)
def check_trusted_proxies(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    try:
        trust = compile_trust(conf.TRUSTED_PROXIES)
    except ImproperlyConfigured as error:
        return [
            checks.Error(
                str(error),
                hint="Use IP addresses or CIDR networks, e.g. 10.0.0.5,10.1.0.0/16, or 'unix'.",
                id=f"{PREFIX}.E002",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for network in trust.networks:
        if not (network.is_private or network.is_loopback or network.is_link_local):
            errors.append(
                checks.Error(
                    f"SECURITY_TRUSTED_PROXIES trusts {network}: every client connecting from "
                    "there can choose its own IP address and walk past blocks and limits.",
                    hint="Trust only your own proxies' private, loopback or link-local addresses. "
                    f"If {network} is your CDN's published range, silence {PREFIX}.E003.",
                    id=f"{PREFIX}.E003",
                )
            )
    return errors


WSGI_HEADER = re.compile(r"HTTP_[A-Z0-9_]+")


@checks.register(checks.Tags.security)
def check_forwarded_header(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    header = conf.FORWARDED_HEADER
    if isinstance(header, str) and WSGI_HEADER.fullmatch(header):
        return []
    return [
        checks.Error(
            f"SECURITY_FORWARDED_HEADER is {header!r}, which no request carries: behind a proxy "
            "every client would be the proxy.",
            hint="Give the header's WSGI name: HTTP_X_FORWARDED_FOR, HTTP_FORWARDED (RFC 7239), "
            "HTTP_X_REAL_IP, HTTP_CF_CONNECTING_IP, ...",
            id=f"{PREFIX}.E020",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_proxies_configured(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if conf.TRUSTED_PROXIES:
        return []
    return [
        checks.Warning(
            "SECURITY_TRUSTED_PROXIES is empty: right only if clients connect straight to this "
            "server. Behind a reverse proxy every client gets the proxy's address; behind a "
            "proxy on a unix socket every request is refused (its client is unknown).",
            hint="Set SECURITY_TRUSTED_PROXIES to your proxies' addresses, and add 'unix' when "
            "the proxy talks to the app server over a unix socket.",
            id=f"{PREFIX}.W003",
        )
    ]


@checks.register()
def check_dramatiq(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if "django_dramatiq" not in settings.INSTALLED_APPS:
        errors.append(
            checks.Error(
                "django_dramatiq is not installed: no worker would store request logs.",
                hint="Add 'django_dramatiq' to INSTALLED_APPS.",
                id=f"{PREFIX}.E004",
            )
        )
    broker = getattr(settings, "DRAMATIQ_BROKER", None) or {}
    if PERIODIQ_MIDDLEWARE not in broker.get("MIDDLEWARE", ()):
        errors.append(
            checks.Error(
                "DRAMATIQ_BROKER has no periodiq middleware: the app's periodic tasks (log "
                "drain backstop, retention, anomaly scan) cannot be declared.",
                hint=f"Add {PERIODIQ_MIDDLEWARE!r} to DRAMATIQ_BROKER['MIDDLEWARE'] (see the "
                "README's 'Using the app in your own site').",
                id=f"{PREFIX}.E005",
            )
        )
    modules = getattr(settings, "DRAMATIQ_AUTODISCOVER_MODULES", None)
    if modules is not None and "tasks" not in modules:
        errors.append(
            checks.Error(
                f"DRAMATIQ_AUTODISCOVER_MODULES={list(modules)!r} leaves out 'tasks': the worker "
                "would not find the app's actors and no request would ever be stored.",
                hint="Add 'tasks' to DRAMATIQ_AUTODISCOVER_MODULES, or remove the setting.",
                id=f"{PREFIX}.E006",
            )
        )
    return errors


@checks.register(checks.Tags.caches)
def check_ratelimit_cache(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    backend = str(settings.CACHES.get(alias, {}).get("BACKEND", ""))
    if backend not in UNSHARED_CACHES:
        return []
    return [
        checks.Warning(
            f"Rate limits count in the {alias!r} cache ({backend.rsplit('.', 1)[-1]}), which each "
            "process keeps for itself: a client gets the limit once per process.",
            hint="Point CACHES['default'] (or RATELIMIT_USE_CACHE) at Redis, e.g. "
            "django.core.cache.backends.redis.RedisCache with LOCATION = your REDIS_URL.",
            id=f"{PREFIX}.W002",
        )
    ]


def running_command() -> str | None:
    """The manage.py (django-admin, python -m django) subcommand this process runs; None in
    anything else (a test calling the checks, a server importing the app)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None or len(sys.argv) < 2:
        return None
    if program.name in ("manage.py", "django-admin") or program.parent.name == "django":
        return sys.argv[1]
    return None


@checks.register()
def check_geoip_database(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    path = Path(conf.GEOIP_PATH) / conf.GEOIP_CITY
    if path.is_file() or running_command() not in GEOIP_WARNING_COMMANDS:
        return []
    return [
        checks.Warning(
            f"No GeoIP database at {path}: geolocation uses the HTTP API only"
            + ("" if conf.GEO_API_URL else ", which is switched off"),
            hint="Run `manage.py update_geodb` with MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY set "
            "(a free GeoLite2 account).",
            id=f"{PREFIX}.W001",
        )
    ]


@checks.register()
def check_geo_rule_databases(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    warnings: list[checks.CheckMessage] = []
    needs = [
        (conf.BLOCK_COUNTRIES or conf.ALLOW_COUNTRIES, conf.GEOIP_CITY, "country", "W004"),
        (conf.BLOCK_ASNS, conf.GEOIP_ASN, "network (ASN)", "W005"),
    ]
    for configured, filename, kind, number in needs:
        path = Path(conf.GEOIP_PATH) / filename
        if configured and not path.is_file():
            warnings.append(
                checks.Warning(
                    f"{kind.capitalize()} rules are configured but {path} is missing: no client "
                    f"is allowed or refused by {kind} until it is there.",
                    hint="Run `manage.py update_geodb` (it fetches GeoLite2-City and -ASN).",
                    id=f"{PREFIX}.{number}",
                )
            )
    return warnings


@checks.register(checks.Tags.security)
def check_metrics(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    try:
        NetworkSet(conf.METRICS_NETWORKS)
    except ValueError as error:
        errors.append(
            checks.Error(
                f"SECURITY_METRICS_NETWORKS: {error}; no network may scrape /security/metrics.",
                hint="Use IP addresses or CIDR networks, e.g. 10.0.9.0/24.",
                id=f"{PREFIX}.E007",
            )
        )
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and not Path(directory).is_dir():
        errors.append(
            checks.Error(
                f"PROMETHEUS_MULTIPROC_DIR is {directory}, which is not a directory: "
                "/security/metrics would fail.",
                hint="Create it (empty) before the server starts, as scripts/run.sh does.",
                id=f"{PREFIX}.E008",
            )
        )
    return errors


WHITENOISE = "whitenoise.middleware.WhiteNoiseMiddleware"
CONSOLE_ASSET = Path("security") / "dashboard.js"


@checks.register()
def check_static_files(app_configs: object, **kwargs: object) -> list[checks.CheckMessage]:
    """With DEBUG off nothing in Django serves /static/: the console's pages would be bare."""
    if settings.DEBUG:
        return []  # runserver serves them (django.contrib.staticfiles)
    whitenoise = WHITENOISE in settings.MIDDLEWARE
    if whitenoise and getattr(settings, "WHITENOISE_USE_FINDERS", False):
        return []
    root = getattr(settings, "STATIC_ROOT", None)
    if root and (Path(root) / CONSOLE_ASSET).is_file():
        return []  # collected: WhiteNoise, or the web server in front, serves STATIC_ROOT
    where = f"{root}/{CONSOLE_ASSET}" if root else "STATIC_ROOT (not set)"
    return [
        checks.Warning(
            f"The console's static files will not be served: DEBUG is off, "
            f"{'' if whitenoise else 'no WhiteNoise middleware, '}and {where} is not there, "
            "so the dashboard's charts and styles 404.",
            hint=f"Add {WHITENOISE!r} to MIDDLEWARE right after the app's middleware (pip "
            "install whitenoise), or set STATIC_ROOT, run manage.py collectstatic and serve "
            "that folder at STATIC_URL from your web server.",
            id=f"{PREFIX}.W007",
        )
    ]
