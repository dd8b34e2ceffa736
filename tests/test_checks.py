import pytest
from django.core import checks
from django.core.management import call_command
from django.test import override_settings

from project import settings as project_settings
from security.checks import (
    OUR_MIDDLEWARE,
    check_dramatiq,
    check_forwarded_header,
    check_geoip_database,
    check_middleware,
    check_proxies_configured,
    check_ratelimit_cache,
    check_static_files,
    check_trusted_proxies,
)


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [message.id for message in messages]


def test_project_configuration_passes_every_error_check():
    assert check_middleware(None) == []
    assert check_trusted_proxies(None) == []
    assert check_dramatiq(None) == []
    assert check_ratelimit_cache(None) == []


def test_ids_are_the_apps_own_never_djangos_security_namespace():
    with override_settings(MIDDLEWARE=[]):
        messages = check_middleware(None)
    assert ids(messages) == ["ip_tracking.E001"]
    assert not any(i.startswith("security.") for i in ids(messages))


@override_settings(MIDDLEWARE=list(reversed(project_settings.MIDDLEWARE)))
def test_e001_security_middleware_out_of_order():
    messages = check_middleware(None)
    assert ids(messages) == ["ip_tracking.E001"]
    assert all(name in messages[0].hint for name in OUR_MIDDLEWARE)


@override_settings(SECURITY_TRUSTED_PROXIES=["10.0.0.1", "10.0.0.300"])
def test_e002_bad_trusted_proxy():
    messages = check_trusted_proxies(None)
    assert ids(messages) == ["ip_tracking.E002"]
    assert "10.0.0.300" in messages[0].msg


def test_e003_trusting_the_world_or_a_public_range_is_an_error():
    for entry in ("0.0.0.0/0", "::/0", "8.8.8.0/24", "2001:4860::/32", "0.0.0.0/4"):
        with override_settings(SECURITY_TRUSTED_PROXIES=[entry]):
            assert ids(check_trusted_proxies(None)) == ["ip_tracking.E003"], entry
    with override_settings(
        SECURITY_TRUSTED_PROXIES=["10.0.0.0/8", "127.0.0.1", "fd00::/8", "unix"]
    ):
        assert check_trusted_proxies(None) == []


def test_e004_e005_e006_what_the_worker_needs_is_named():
    apps = [a for a in project_settings.INSTALLED_APPS if a != "django_dramatiq"]
    broker = {**project_settings.DRAMATIQ_BROKER, "MIDDLEWARE": ["dramatiq.middleware.Retries"]}
    with override_settings(
        INSTALLED_APPS=apps, DRAMATIQ_BROKER=broker, DRAMATIQ_AUTODISCOVER_MODULES=["actors"]
    ):
        messages = check_dramatiq(None)
    assert ids(messages) == ["ip_tracking.E004", "ip_tracking.E005", "ip_tracking.E006"]
    assert "periodiq.PeriodiqMiddleware" in messages[1].hint
    assert "'tasks'" in messages[2].hint


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
def test_w002_rate_limits_in_a_per_process_cache():
    messages = check_ratelimit_cache(None)
    assert ids(messages) == ["ip_tracking.W002"]
    assert "RedisCache" in messages[0].hint


def test_w003_deploy_check_says_to_configure_proxies_and_unix(capsys):
    with override_settings(SECURITY_TRUSTED_PROXIES=[]):
        messages = check_proxies_configured(None)
        assert ids(messages) == ["ip_tracking.W003"]
        assert "'unix'" in messages[0].hint
        call_command("check", "--deploy", "--tag", "security")
    assert "ip_tracking.W003" in capsys.readouterr().err
    with override_settings(SECURITY_TRUSTED_PROXIES=["unix"]):
        assert check_proxies_configured(None) == []


def test_w001_no_geoip_database(tmp_path):
    with override_settings(GEOIP_PATH=str(tmp_path)):
        (warning,) = check_geoip_database(None)
        assert warning.id == "ip_tracking.W001"
        assert "manage.py update_geodb" in warning.hint
        (tmp_path / "GeoLite2-City.mmdb").write_bytes(b"placeholder")
        assert check_geoip_database(None) == []


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "http_x_real_ip", ""])
def test_e020_a_forwarded_header_no_request_carries(settings, header):
    settings.SECURITY_FORWARDED_HEADER = header
    assert ids(check_forwarded_header(None)) == ["ip_tracking.E020"]
    settings.SECURITY_FORWARDED_HEADER = "HTTP_FORWARDED"
    assert check_forwarded_header(None) == []


def test_w007_console_files_not_served_without_whitenoise_or_collected_files(tmp_path, settings):
    settings.DEBUG = False
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "whitenoise" not in m]
    settings.STATIC_ROOT = None
    assert ids(check_static_files(None)) == ["ip_tracking.W007"]
    settings.STATIC_ROOT = str(tmp_path / "static")
    (warning,) = check_static_files(None)
    assert "dashboard.js is not there" in warning.msg and "collectstatic" in warning.hint
    call_command("collectstatic", interactive=False, verbosity=0)
    assert check_static_files(None) == []
    settings.STATIC_ROOT = None
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "whitenoise.middleware.WhiteNoiseMiddleware"]
    settings.WHITENOISE_USE_FINDERS = False
    assert ids(check_static_files(None)) == ["ip_tracking.W007"]  # WhiteNoise, nothing collected
    settings.WHITENOISE_USE_FINDERS = True
    assert check_static_files(None) == []
