from django.core import checks
from django.test import override_settings

from project import settings as project_settings
from security.checks import (
    check_geoip_database,
    check_middleware,
    check_ratelimit_ip,
    check_trusted_proxies,
)


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [message.id for message in messages]


def test_project_configuration_passes_the_errors():
    assert check_ratelimit_ip(None) == []
    assert check_trusted_proxies(None) == []
    assert check_middleware(None) == []


@override_settings(RATELIMIT_IP_META_KEY="HTTP_X_FORWARDED_FOR")
def test_e001_ratelimit_not_keyed_on_our_client_ip():
    assert ids(check_ratelimit_ip(None)) == ["security.E001"]


@override_settings(SECURITY_TRUSTED_PROXIES=["10.0.0.1", "10.0.0.300"])
def test_e002_bad_trusted_proxy():
    messages = check_trusted_proxies(None)
    assert ids(messages) == ["security.E002"]
    assert "10.0.0.300" in messages[0].msg


@override_settings(MIDDLEWARE=list(reversed(project_settings.MIDDLEWARE)))
def test_e003_security_middleware_out_of_order():
    assert "security.E003" in ids(check_middleware(None))


@override_settings(
    MIDDLEWARE=[
        m
        for m in project_settings.MIDDLEWARE
        if m != "django_ratelimit.middleware.RatelimitMiddleware"
    ]
)
def test_e004_ratelimit_middleware_missing():
    assert ids(check_middleware(None)) == ["security.E004"]


def test_w001_no_geoip_database(tmp_path):
    with override_settings(GEOIP_PATH=str(tmp_path)):
        assert ids(check_geoip_database(None)) == ["security.W001"]
        (tmp_path / "GeoLite2-City.mmdb").write_bytes(b"placeholder")
        assert check_geoip_database(None) == []
