"""The 12-factor settings, checked in fresh interpreters with a controlled environment."""

import json
import re
import subprocess
import sys

from tests.processes import ROOT

READ_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'debug': settings.DEBUG, 'engine': db['ENGINE'], 'name': str(db['NAME']),"
    " 'options': db.get('OPTIONS', {}), 'age': db['CONN_MAX_AGE'], 'hosts': settings.ALLOWED_HOSTS,"
    " 'cache': settings.CACHES['default']['LOCATION'], 'broker': settings.DRAMATIQ_BROKER,"
    " 'proxies': settings.SECURITY_TRUSTED_PROXIES, 'hsts': settings.SECURE_HSTS_SECONDS,"
    " 'proxy_ssl': settings.SECURE_PROXY_SSL_HEADER, 'origins': settings.CSRF_TRUSTED_ORIGINS}))"
)


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "project.settings"}
    return subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_key_is_refused_when_debug_is_off():
    result = run_settings({})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_embedded_defaults_with_debug_on():
    result = run_settings({"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is True
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(ROOT / "db.sqlite3")
    assert "journal_mode=WAL" in values["options"]["init_command"]
    assert values["age"] == 600
    assert values["hosts"] == ["localhost", "127.0.0.1"]
    assert values["cache"] == ["redis://127.0.0.1:6379/0"]
    assert values["broker"]["OPTIONS"] == {"url": "redis://127.0.0.1:6379/0"}
    assert "periodiq.PeriodiqMiddleware" in values["broker"]["MIDDLEWARE"]
    assert values["proxies"] == []


def test_environment_overrides():
    result = run_settings(
        {
            "DJANGO_SECRET_KEY": "k" * 50,
            "DATABASE_URL": "postgres://app:pw@db.internal:5433/site",
            "REDIS_URL": "redis://cache.internal:6380/2",
            "DJANGO_ALLOWED_HOSTS": "example.org, www.example.org",
            "SECURITY_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16",
        }
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is False
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["name"] == "site"
    assert values["hosts"] == ["example.org", "www.example.org"]
    assert values["cache"] == ["redis://cache.internal:6380/2"]
    assert values["proxies"] == ["10.0.0.1", "10.1.0.0/16"]


def test_https_settings_for_a_site_behind_a_proxy():
    production = {"DJANGO_SECRET_KEY": "k" * 50}
    values = json.loads(run_settings(production).stdout)
    assert (values["hsts"], values["proxy_ssl"], values["origins"]) == (31536000, None, [])
    result = run_settings(
        {
            **production,
            "DJANGO_HSTS_SECONDS": "3600",
            "DJANGO_SECURE_PROXY_SSL_HEADER": "on",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://example.org, https://www.example.org",
        }
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["hsts"] == 3600
    assert values["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["origins"] == ["https://example.org", "https://www.example.org"]


def test_bad_boolean_is_a_clear_error():
    result = run_settings({"DJANGO_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr


def test_deploy_check_passes_with_production_environment(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SECRET_KEY": "a-long-random-production-key-" + "x7Q!" * 10,
        "DJANGO_ALLOWED_HOSTS": "example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "GEOIP_PATH": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    flagged = set(re.findall(r"^\?: \(([\w.]+)\)", result.stderr, flags=re.M))
    # What is left are the operator's own decisions: download a GeoIP database, name the
    # reverse proxies (or none), and whether every subdomain is HTTPS-only / the domain goes
    # on the HSTS preload list.
    assert flagged == {"ip_tracking.W001", "ip_tracking.W003", "security.W005", "security.W021"}


def test_a_command_without_configuration_says_why_in_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "block_ip", "203.0.113.90"],
        env={"PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "manage.py: DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
        "(the built-in development key is refused outside debug mode)"
    ]


def test_a_sentinel_url_reaches_the_cache_and_the_broker_whole():
    url = "redis+sentinel://s1.internal:26379,s2.internal:26379,s3.internal:26379/mymaster/1"
    result = run_settings({"DJANGO_SECRET_KEY": "k" * 50, "REDIS_URL": url})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["cache"] == [url]  # one location, not split at its commas
    assert values["broker"]["BROKER"] == "security.broker.RedisBroker"
    assert values["broker"]["OPTIONS"] == {"url": url}
