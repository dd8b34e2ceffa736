"""System checks: misconfigurations that would silently weaken the app are caught at start."""

from pathlib import Path

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .client_ip import compile_networks
from .conf import conf

OUR_IP_FUNCTION = "security.client_ip.ratelimit_ip"
OUR_MIDDLEWARE = [
    "security.middleware.ClientIPMiddleware",
    "security.middleware.RequestLogMiddleware",
    "security.middleware.BlockedIPMiddleware",
]


@checks.register(checks.Tags.security)
def check_ratelimit_ip(app_configs, **kwargs) -> list[checks.CheckMessage]:
    from .client_ip import ratelimit_ip

    value = getattr(settings, "RATELIMIT_IP_META_KEY", None)
    if value == OUR_IP_FUNCTION or value is ratelimit_ip:
        return []
    return [
        checks.Error(
            "django-ratelimit does not key on the app's client IP.",
            hint=f"Set RATELIMIT_IP_META_KEY = {OUR_IP_FUNCTION!r}; otherwise rate limits "
            "use REMOTE_ADDR or a raw, spoofable header.",
            id="security.E001",
        )
    ]


@checks.register(checks.Tags.security)
def check_trusted_proxies(app_configs, **kwargs) -> list[checks.CheckMessage]:
    try:
        compile_networks(conf.TRUSTED_PROXIES)
    except ImproperlyConfigured as error:
        return [
            checks.Error(
                str(error),
                hint="Use IP addresses or CIDR networks, e.g. 10.0.0.5,10.1.0.0/16.",
                id="security.E002",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_middleware(app_configs, **kwargs) -> list[checks.CheckMessage]:
    middleware = list(settings.MIDDLEWARE)
    errors: list[checks.CheckMessage] = []
    positions = [middleware.index(m) if m in middleware else -1 for m in OUR_MIDDLEWARE]
    if -1 in positions or positions != sorted(positions):
        errors.append(
            checks.Error(
                "The security middleware are missing or out of order.",
                hint="Put these first in MIDDLEWARE, in this order: " + ", ".join(OUR_MIDDLEWARE),
                id="security.E003",
            )
        )
    if "django_ratelimit.middleware.RatelimitMiddleware" not in middleware:
        errors.append(
            checks.Error(
                "RatelimitMiddleware is not installed: rate-limited clients get 403, not 429.",
                hint="Add 'django_ratelimit.middleware.RatelimitMiddleware' to MIDDLEWARE.",
                id="security.E004",
            )
        )
    return errors


@checks.register()
def check_geoip_database(app_configs, **kwargs) -> list[checks.CheckMessage]:
    path = Path(conf.GEOIP_PATH) / conf.GEOIP_CITY
    if path.is_file():
        return []
    return [
        checks.Warning(
            f"No GeoIP database at {path}: geolocation uses the HTTP API only"
            + ("" if conf.GEO_API_URL else ", which is switched off"),
            hint="Run scripts/update_geodb.sh with MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY.",
            id="security.W001",
        )
    ]
