"""Requests meant for a proxy, sent as raw HTTP to gunicorn with a worker running: `CONNECT
host:443` and an absolute target (`GET http://host/ HTTP/1.1`) are logged with what the client
asked for and flagged as probes by the drain; an ordinary request from the same setup is not."""

import socket
from urllib.parse import urlsplit

import pytest

from security.models import RequestLog, SuspiciousIP
from tests.conftest import wait_for
from tests.processes import start_web, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONNECTER, ABSOLUTE, ORDINARY = "198.51.100.170", "198.51.100.171", "192.0.2.170"


def send_raw(url: str, request_line: str, host: str, client: str) -> int:
    """One request exactly as written; the status the server answered."""
    parts = urlsplit(url)
    head = (
        f"{request_line}\r\nHost: {host}\r\nX-Forwarded-For: {client}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(head.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_connect_and_absolute_targets_are_logged_and_flagged():
    server, url = start_web(SECURITY_TRUSTED_PROXIES="127.0.0.1")
    worker = start_worker(SECURITY_TRUSTED_PROXIES="127.0.0.1")
    try:
        own_host = urlsplit(url).netloc
        assert send_raw(url, "CONNECT 203.0.113.9:443 HTTP/1.1", "203.0.113.9:443", CONNECTER) < 500
        assert (
            send_raw(url, "GET http://www.example.com/ HTTP/1.1", "www.example.com", ABSOLUTE) < 500
        )
        assert send_raw(url, "GET / HTTP/1.1", own_host, ORDINARY) == 200
        wait_for(lambda: SuspiciousIP.objects.filter(ip_address=ABSOLUTE).exists(), 30)
        wait_for(lambda: SuspiciousIP.objects.filter(ip_address=CONNECTER).exists(), 30)
        wait_for(lambda: RequestLog.objects.filter(ip_address=ORDINARY).exists(), 30)
    finally:
        worker.stop()
        server.stop()
    connect = SuspiciousIP.objects.get(ip_address=CONNECTER)
    assert (connect.reason, connect.signature) == ("probe", "method: CONNECT")
    absolute = SuspiciousIP.objects.get(ip_address=ABSOLUTE)
    assert (absolute.reason, absolute.signature) == (
        "probe",
        "proxy request: http://www.example.com/",
    )
    assert RequestLog.objects.get(ip_address=ABSOLUTE).path == "http://www.example.com/"
    assert not SuspiciousIP.objects.filter(ip_address=ORDINARY).exists()
