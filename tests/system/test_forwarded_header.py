"""A server behind a proxy that writes RFC 7239 `Forwarded` (SECURITY_FORWARDED_HEADER =
"HTTP_FORWARDED"): each client is itself, for blocks, limits and the log, never the proxy."""

import re
from collections.abc import Iterator

import pytest
import requests

from security.models import RequestLog
from security.requestlog import drain
from tests.conftest import rate_window_with_room, wait_for
from tests.processes import run_manage, start_web

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def site(django_db_setup) -> Iterator[str]:
    server, url = start_web(
        SECURITY_TRUSTED_PROXIES="127.0.0.1", SECURITY_FORWARDED_HEADER="HTTP_FORWARDED"
    )
    yield url
    server.stop()


def get(url: str, forwarded: str, path: str = "/") -> requests.Response:
    return requests.get(url + path, headers={"Forwarded": forwarded}, timeout=10)


def login_attempt(url: str, forwarded: str) -> int:
    session = requests.Session()
    headers = {"Forwarded": forwarded}
    page = session.get(url + "/login/", headers=headers, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        url + "/login/",
        data={"csrfmiddlewaretoken": token, "username": "x", "password": "guess"},
        headers={**headers, "Referer": url + "/login/"},
        allow_redirects=False,
        timeout=10,
    )
    return answer.status_code


def test_blocked_clients_behind_an_rfc7239_proxy_are_refused(site: str):
    assert run_manage("block_ip", "203.0.113.80", "2001:db8::80").returncode == 0
    # Every worker process of the server within a few seconds (each reloads on its own).
    wait_for(
        lambda: all(
            get(site, header).status_code == 403
            for header in ["for=203.0.113.80;proto=https", 'for="[2001:db8::80]:443"'] * 4
        ),
        timeout=10,
    )
    assert get(site, "for=203.0.113.81;proto=https").status_code == 200
    # A forged element on the left changes nothing: the proxy's element is on the right. (Waited
    # for too: the eight requests above may all have reached one worker, and the other may still
    # be reloading; a forged element that won would answer 200 for good.)
    wait_for(lambda: get(site, "for=198.51.100.1, for=203.0.113.80").status_code == 403, timeout=10)
    # A header that names no address is refused, not served as the proxy.
    assert get(site, "for=_hidden").status_code == 400
    wait_for(lambda: drain.drain() >= 0 and RequestLog.objects.filter(ip_address="203.0.113.81"))
    assert not RequestLog.objects.filter(ip_address="127.0.0.1", method="GET").exists()


def test_each_client_has_its_own_rate_limit_counter(site: str):
    rate_window_with_room("203.0.113.82")
    rate_window_with_room("203.0.113.83")
    first = [login_attempt(site, "for=203.0.113.82;proto=https") for _ in range(6)]
    assert first == [200] * 5 + [429]
    assert login_attempt(site, "for=203.0.113.83;proto=https") == 200
