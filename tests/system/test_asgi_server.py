"""The demo under an ASGI server: gunicorn with uvicorn workers, a real Dramatiq worker."""

import re

import pytest
import requests
from django.core.management import call_command

from security.models import RequestLog
from tests.conftest import rate_window_with_room, wait_for
from tests.processes import start_web, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def post_login(session: requests.Session, url: str, client: str) -> requests.Response:
    page = session.get(url + "/login/", headers={"X-Forwarded-For": client}, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        url + "/login/",
        data={"csrfmiddlewaretoken": token, "username": "nobody", "password": "wrong"},
        headers={"X-Forwarded-For": client},
        timeout=10,
    )


def test_asgi_server_logs_blocks_and_limits():
    server, url = start_web(asgi=True, SECURITY_TRUSTED_PROXIES="127.0.0.1")
    worker = start_worker()
    try:
        assert requests.get(url + "/", headers={"X-Forwarded-For": "203.0.113.130"}).ok
        wait_for(lambda: RequestLog.objects.filter(ip_address="203.0.113.130").exists())

        session = requests.Session()
        rate_window_with_room("203.0.113.131")
        codes = [post_login(session, url, "203.0.113.131").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]

        call_command("block_ip", "203.0.113.132")
        wait_for(
            lambda: (
                requests.get(
                    url + "/", headers={"X-Forwarded-For": "203.0.113.132"}, timeout=10
                ).status_code
                == 403
            ),
            timeout=5,
        )
        wait_for(
            lambda: RequestLog.objects.filter(ip_address="203.0.113.132", blocked=True).exists()
        )
    finally:
        server.stop()
        worker.stop()
