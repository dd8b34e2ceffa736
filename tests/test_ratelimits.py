import copy
import logging
import re

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

from tests.processes import free_port, start_web

pytestmark = pytest.mark.django_db(transaction=True)


def post_login(client: Client, ip: str, **extra) -> int:
    response = client.post(
        "/login/", {"username": "nobody", "password": "wrong"}, REMOTE_ADDR=ip, **extra
    )
    return response


def codes(client: Client, ip: str, count: int, **extra) -> list[int]:
    return [post_login(client, ip, **extra).status_code for _ in range(count)]


def test_sixth_anonymous_post_in_a_minute_gets_429_with_retry_after(client: Client, caplog):
    assert codes(client, "203.0.113.30", 5) == [200] * 5
    response = post_login(client, "203.0.113.30")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert b"Too many requests" in response.content
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.urls("tests.urls")
def test_each_sensitive_view_has_its_own_count(client: Client):
    assert codes(client, "203.0.113.40", 6)[-1] == 429
    statuses = [client.post("/contact/", REMOTE_ADDR="203.0.113.40").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_other_clients_and_get_requests_are_unaffected(client: Client):
    codes(client, "203.0.113.31", 6)
    assert post_login(client, "203.0.113.32").status_code == 200
    assert client.get("/login/", REMOTE_ADDR="203.0.113.31").status_code == 200


def test_authenticated_users_get_ten(client: Client):
    user = User.objects.create_user("frank", password="pw-frank-1234")
    client.force_login(user)
    assert codes(client, "203.0.113.33", 10) == [200] * 10
    assert post_login(client, "203.0.113.33").status_code == 429


def test_rates_are_configurable(client: Client, settings):
    settings.SECURITY_RATE_ANONYMOUS = "2/m"
    settings.SECURITY_RATE_AUTHENTICATED = "3/m"
    assert codes(client, "203.0.113.35", 3) == [200, 200, 429]
    client.force_login(User.objects.create_user("heidi", password="pw-heidi-1234"))
    assert codes(client, "203.0.113.36", 4) == [200, 200, 200, 429]


def test_authenticated_limit_follows_the_user_not_the_address():
    user = User.objects.create_user("grace", password="pw-grace-1234")
    first, second = Client(), Client()
    first.force_login(user)
    second.force_login(user)
    assert codes(first, "203.0.113.34", 5) == [200] * 5
    assert codes(second, "198.51.100.34", 5) == [200] * 5
    assert post_login(second, "192.0.2.34").status_code == 429


def test_ipv6_clients_are_grouped_by_64(client: Client):
    statuses = [post_login(client, f"2001:db8:1:2::{i}").status_code for i in range(1, 6)]
    assert statuses == [200] * 5
    assert post_login(client, "2001:db8:1:2:ffff::1").status_code == 429
    assert post_login(client, "2001:db8:1:3::1").status_code == 200


def test_forged_forwarded_for_does_not_reset_the_count(client: Client):
    for i in range(5):
        assert (
            post_login(client, "203.0.113.35", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}").status_code
            == 200
        )
    assert post_login(client, "203.0.113.35", HTTP_X_FORWARDED_FOR="10.9.9.99").status_code == 429


@override_settings(SECURITY_TRUSTED_PROXIES=["127.0.0.1"])
def test_behind_a_trusted_proxy_each_client_has_its_own_count(client: Client):
    assert codes(client, "127.0.0.1", 6, HTTP_X_FORWARDED_FOR="203.0.113.36")[-1] == 429
    assert post_login(client, "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.37").status_code == 200


def caches_with_redis_down() -> dict:
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = f"redis://127.0.0.1:{free_port()}/0"
    return caches


def test_redis_down_fails_open_by_default_with_one_warning(client: Client, caplog):
    with override_settings(CACHES=caches_with_redis_down()):
        assert codes(client, "203.0.113.38", 8) == [200] * 8
        assert client.get("/", REMOTE_ADDR="203.0.113.38").status_code == 200
    warnings = [r for r in caplog.records if "rate-limit counters unreachable" in r.getMessage()]
    assert len(warnings) <= 1


@override_settings(SECURITY_RATELIMIT_FAIL_OPEN=False)
def test_redis_down_fails_closed_when_configured(client: Client):
    with override_settings(CACHES=caches_with_redis_down()):
        response = post_login(client, "203.0.113.39")
        assert response.status_code == 429
        assert response["Retry-After"] == "60"
        assert client.get("/", REMOTE_ADDR="203.0.113.39").status_code == 200


@pytest.mark.slow
def test_two_server_processes_share_the_count():
    servers = [
        start_web(workers=1, threads=2, SECURITY_TRUSTED_PROXIES="127.0.0.1") for _ in range(2)
    ]
    try:
        first_url, second_url = servers[0][1], servers[1][1]
        page = requests.get(first_url + "/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        cookies = {"csrftoken": page.cookies["csrftoken"]}
        form = {"csrfmiddlewaretoken": token, "username": "nobody", "password": "wrong"}

        def post(url: str, client: str) -> int:
            headers = {"X-Forwarded-For": client}
            return requests.post(
                url + "/login/", data=form, cookies=cookies, headers=headers, timeout=10
            ).status_code

        # The limiter's windows are fixed (a minute each): when a boundary falls among the six
        # requests, the count starts again, so a second client tries once more (two boundaries
        # cannot fall within seconds). Counted per process, neither would ever see a 429.
        for client in ("203.0.113.150", "203.0.113.151"):
            answers = [post(url, client) for url in [first_url, second_url] * 3]
            if 429 in answers:
                break
        assert answers == [200] * 5 + [429]
    finally:
        for server, _url in servers:
            server.stop()


@pytest.mark.urls("tests.urls")
def test_password_reset_is_limited_by_name_in_settings(client: Client):
    from security.conf import conf

    assert "admin:login" in conf.RATELIMIT_VIEWS
    assert "password_reset" in conf.RATELIMIT_VIEWS
    answers = [
        client.post("/password-reset/", {"email": "x@example.org"}, REMOTE_ADDR="203.0.113.60")
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [302] * 5 + [429]
    assert answers[-1]["Retry-After"]


@pytest.mark.urls("tests.urls")
@override_settings(SECURITY_RATELIMIT_PATHS=["/api/token/"])
def test_a_path_named_in_settings_is_limited(client: Client):
    codes = [client.post("/api/token/", REMOTE_ADDR="203.0.113.61").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert client.get("/api/token/", REMOTE_ADDR="203.0.113.61").status_code == 200  # POSTs only


@pytest.mark.urls("tests.urls")
def test_a_path_not_named_is_not_limited(client: Client):
    codes = [client.post("/api/token/", REMOTE_ADDR="203.0.113.62").status_code for _ in range(8)]
    assert codes == [200] * 8
