"""The detection corpus (tests/detection_corpus.py) replayed through real HTTP against a server
behind a trusted proxy, with a worker running: every attacker is flagged by the streaming rules
before any scheduled scan, no benign client is, and the hourly scan on the same data agrees."""

import re
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User

from security.detection import scan
from security.models import RequestLog, SuspiciousIP
from tests.conftest import wait_for
from tests.detection_corpus import ATTACK, BENIGN, SESSIONS, client_address
from tests.processes import start_web, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def signed_in_session(url: str, address: str, staff: bool) -> requests.Session:
    username = f"user-{address}"
    User.objects.create(
        username=username,
        is_staff=staff,
        is_superuser=staff,
        password=make_password("pw-corpus-12345", hasher="pbkdf2_sha256"),
    )
    session = requests.Session()
    headers = {"X-Forwarded-For": address}
    page = session.get(url + "/login/", headers=headers, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        url + "/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": "pw-corpus-12345"},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    return session


def replay(url: str) -> tuple[dict[str, str], int]:
    """Every session from its own address; the verdict of each address, and requests sent."""
    verdicts: dict[str, str] = {}
    sent = 0
    for index, session in enumerate(SESSIONS):
        address = client_address(index)
        verdicts[address] = session.verdict
        http = (
            signed_in_session(url, address, session.staff)
            if session.signed_in
            else requests.Session()
        )
        sent += 2 if session.signed_in else 0  # the login page and its POST
        for number, line in enumerate(session.requests):
            method, target = line.split(" ", 1)
            headers = {"X-Forwarded-For": address, "User-Agent": session.agent(number)}
            # Sent as written: no client-side normalisation of `..`, `//` or encodings.
            prepared = http.prepare_request(requests.Request(method, url + "/", headers=headers))
            prepared.url = url + target
            http.send(prepared, timeout=10, allow_redirects=False)
            sent += 1
    return verdicts, sent


def flagged_addresses() -> dict[str, set[str]]:
    flagged: dict[str, set[str]] = {}
    for ip, reason in SuspiciousIP.objects.values_list("ip_address", "reason"):
        flagged.setdefault(ip, set()).add(reason)
    return flagged


def test_streaming_flags_every_attacker_and_no_benign_client_and_the_scan_agrees(capsys):
    server, url = start_web(SECURITY_TRUSTED_PROXIES="127.0.0.1")
    worker = start_worker(SECURITY_TRUSTED_PROXIES="127.0.0.1")
    try:
        assert urlsplit(url).hostname == "127.0.0.1"
        verdicts, sent = replay(url)
        addresses = set(verdicts)
        wait_for(lambda: RequestLog.objects.filter(ip_address__in=addresses).count() >= sent, 30)
        # Streaming only: no scan has run.
        wait_for(lambda: len(flagged_addresses()) > 0, 10)
        streamed = flagged_addresses()
    finally:
        worker.stop()
        server.stop()

    attackers = {ip for ip, verdict in verdicts.items() if verdict == ATTACK}
    benign = {ip for ip, verdict in verdicts.items() if verdict == BENIGN}
    caught = attackers & set(streamed)
    false_alarms = benign & set(streamed)
    with capsys.disabled():
        print(
            f"\ndetection corpus: streaming flagged {len(caught)}/{len(attackers)} attacking "
            f"clients ({len(caught) / len(attackers):.0%}), {len(false_alarms)}/{len(benign)} "
            "benign"
        )
    missed = {
        SESSIONS[i].name for i in range(len(SESSIONS)) if client_address(i) in attackers - caught
    }
    wrongly = {
        SESSIONS[i].name: sorted(streamed[client_address(i)])
        for i in range(len(SESSIONS))
        if client_address(i) in false_alarms
    }
    assert not missed, f"attackers not flagged: {sorted(missed)}"
    assert not wrongly, f"benign clients flagged: {wrongly}"
    for index, session in enumerate(SESSIONS):
        if session.verdict == ATTACK:
            assert session.expect <= streamed[client_address(index)], session.name

    # The hourly scan over the same hour finds the same clients, and a rerun changes nothing.
    findings = scan.scan(hours=1)
    scanned = {finding.ip for finding in findings}
    assert scanned & addresses == attackers
    rows = list(SuspiciousIP.objects.order_by("pk").values())
    scan.scan(hours=1)
    assert list(SuspiciousIP.objects.order_by("pk").values()) == rows
    # Evidence an operator can act on: the rule, the entry that matched, the requests.
    probe = SuspiciousIP.objects.filter(reason="probe").first()
    assert probe.signature
    assert probe.evidence["requests"][0]["path"]
