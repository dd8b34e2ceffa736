"""Signals for flagged, blocked and unblocked IPs, and the webhook a worker sends for them."""

import json
import time

import dramatiq
import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from security import signals, tasks  # noqa: F401  (tasks registers the webhook actor)
from security.alerts import CAP_KEY, WEBHOOK_QUEUE
from security.requestlog.buffer import log_buffer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received():
    calls = []

    def receiver(sender, signal, **arguments):
        calls.append((sender.__name__, arguments))

    for signal in (signals.ip_flagged, signals.ip_blocked, signals.ip_unblocked):
        signal.connect(receiver, weak=False)
    yield calls
    for signal in (signals.ip_flagged, signals.ip_blocked, signals.ip_unblocked):
        signal.disconnect(receiver)


def test_block_and_unblock_send_their_signals_once_committed(received):
    call_command("block_ip", "203.0.113.9", "--reason", "abuse", "--expires", "1h")
    call_command("unblock_ip", "203.0.113.9")
    (blocked_sender, blocked), (unblocked_sender, unblocked) = received
    assert blocked_sender == unblocked_sender == "BlockedIP"
    assert blocked["targets"] == ["203.0.113.9"]
    assert (blocked["reason"], blocked["source"]) == ("abuse", "manual")
    assert blocked["expires_at"] is not None
    assert unblocked == {"targets": ["203.0.113.9"], "removed": 1}


def test_streaming_detection_sends_ip_flagged(received, client: Client):
    client.get("/.env", REMOTE_ADDR="198.51.100.90")
    log_buffer.flush()
    tasks.drain_logs()
    flagged = [arguments for sender, arguments in received if sender == "SuspiciousIP"]
    assert len(flagged) == 1
    assert flagged[0]["ip_address"] == "198.51.100.90"
    assert (flagged[0]["reason"], flagged[0]["detected_by"]) == ("probe", "stream")
    assert flagged[0]["suspicious"].signature == flagged[0]["signature"] == "sensitive_files: .env"


def run_worker_until_idle() -> None:
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        broker.join(WEBHOOK_QUEUE)
        worker.join()
    finally:
        worker.stop()


def test_the_webhook_is_sent_by_the_worker_and_retried_until_it_is_taken(httpserver: HTTPServer):
    bodies = []
    answers = iter([500, 200])

    def hook(request: Request) -> Response:
        bodies.append(json.loads(request.data))
        return Response("", status=next(answers))

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    with override_settings(SECURITY_ALERT_WEBHOOK_URL=httpserver.url_for("/hook")):
        call_command("block_ip", "203.0.113.10", "--reason", "credential stuffing")
        assert bodies == []  # nothing is sent by the process that made the change
        run_worker_until_idle()
    assert len(bodies) == 2  # refused once, delivered on the retry
    assert bodies[0] == bodies[1]
    assert bodies[1]["event"] == "ip_blocked"
    assert bodies[1]["text"].startswith("Blocked 203.0.113.10 (manual): credential stuffing")
    assert bodies[1]["targets"] == ["203.0.113.10"]


@pytest.fixture
def receiver(httpserver: HTTPServer) -> tuple[str, list[dict]]:
    """A webhook receiver on loopback that takes everything: (its URL, the bodies it got)."""
    bodies: list[dict] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: bodies.append(json.loads(request.data)) or Response("", status=200)
    )
    return httpserver.url_for("/hook"), bodies


@pytest.fixture
def within_one_minute() -> None:
    """The cap counts per clock minute: start where the next few seconds stay inside one."""
    into_minute = time.time() % 60
    if into_minute > 50:
        time.sleep(60.5 - into_minute)


def test_alerts_over_the_per_minute_cap_are_counted_not_sent(receiver, within_one_minute):
    url, bodies = receiver
    with override_settings(SECURITY_ALERT_WEBHOOK_URL=url, SECURITY_ALERT_WEBHOOK_PER_MINUTE=2):
        for n in range(5):
            call_command("block_ip", f"203.0.113.{20 + n}")
        run_worker_until_idle()
    # The worker's threads may deliver them in either order.
    assert sorted(body["targets"][0] for body in bodies) == ["203.0.113.20", "203.0.113.21"]


def test_no_webhook_configured_queues_nothing():
    call_command("block_ip", "203.0.113.30")
    assert dramatiq.get_broker().queues.get(WEBHOOK_QUEUE) is None or not (
        dramatiq.get_broker().queues[WEBHOOK_QUEUE].qsize()
    )


def test_without_a_webhook_flagging_builds_no_alert(client: Client, monkeypatch):
    # A scan flags hundreds of addresses a batch: each alert's text reverses console URLs.
    from security import alerts

    built: list[str] = []
    monkeypatch.setattr(alerts, "address_link", lambda ip: built.append(ip) or ip)
    monkeypatch.setattr(alerts, "queue", lambda event: None)  # built, never sent
    client.get("/.env", REMOTE_ADDR="203.0.113.35")
    log_buffer.flush()
    tasks.drain_logs()
    from security.models import SuspiciousIP

    assert SuspiciousIP.objects.filter(ip_address="203.0.113.35").exists()
    assert built == []
    with override_settings(SECURITY_ALERT_WEBHOOK_URL="http://127.0.0.1:9/hook"):
        signals.send_on_commit(
            signals.ip_flagged, SuspiciousIP, suspicious=SuspiciousIP.objects.get(),
            ip_address="203.0.113.35", reason="probe", signature="", detected_by="stream",
        )  # fmt: skip
    assert built == ["203.0.113.35"]


def test_the_next_alert_says_how_many_the_cap_held_back(receiver, redis_client, within_one_minute):
    url, bodies = receiver
    with override_settings(SECURITY_ALERT_WEBHOOK_URL=url, SECURITY_ALERT_WEBHOOK_PER_MINUTE=1):
        for n in range(4):
            call_command("block_ip", f"203.0.113.{40 + n}")
        for key in redis_client.scan_iter(f"{CAP_KEY}*"):  # the next minute
            redis_client.delete(key)
        call_command("block_ip", "203.0.113.50")
        run_worker_until_idle()
    latest = next(body for body in bodies if body["targets"] == ["203.0.113.50"])
    assert latest["suppressed"] == 3
    assert "(3 earlier alerts over the per-minute cap not sent)" in latest["text"]


def test_request_text_in_an_alert_cannot_ping_or_link_in_slack(receiver, client: Client):
    url, bodies = receiver
    with override_settings(SECURITY_ALERT_WEBHOOK_URL=url):
        client.get(
            "/.env",
            {"x": "<!channel> <https://evil.example|click to unblock>"},
            REMOTE_ADDR="198.51.100.91",
        )
        log_buffer.flush()
        tasks.drain_logs()
        call_command("block_ip", "203.0.113.99", reason="<!here> see <https://evil.example|this>")
        run_worker_until_idle()
    texts = " ".join(body["text"] for body in bodies)
    assert len(bodies) == 2
    assert "<!" not in texts and "<https://evil" not in texts
    assert "&lt;!here&gt;" in texts
