import json
import time
import uuid
from datetime import timedelta

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from periodiq import CronSpec

from security import tasks
from security.blocking.blocklist import is_blocked
from security.blocking.changes import block
from security.detection import scan
from security.models import BlockedIP, BlockSource, RequestLog, SuspiciousIP
from security.requestlog.buffer import log_buffer

pytestmark = pytest.mark.django_db(transaction=True)

HEAVY, PROBER, VISITOR = "203.0.113.50", "198.51.100.51", "192.0.2.52"


def traffic(client: Client, ip: str, paths: list[str]) -> None:
    for path in paths:
        client.get(path, REMOTE_ADDR=ip)


def store() -> None:
    log_buffer.flush()
    tasks.drain_logs()


def scan_output(capsys, *args: str) -> list[dict]:
    call_command("detect_anomalies", *args)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def seeded(client: Client, settings) -> None:
    settings.SECURITY_DETECT_VOLUME_THRESHOLD = 100  # the default (1000) needs more traffic
    traffic(client, HEAVY, ["/"] * 150)
    traffic(client, PROBER, ["/", "/.env", "/wp-login.php", "/.git/config"])
    traffic(client, VISITOR, ["/", "/login/"] * 10)
    store()


def snapshot() -> list[tuple]:
    return list(
        SuspiciousIP.objects.order_by("ip_address", "reason").values_list(
            "ip_address",
            "reason",
            "window_start",
            "window_end",
            "requests",
            "total_requests",
            "evidence",
            "first_seen",
            "last_seen",
            "status",
        )
    )


def test_heavy_client_and_prober_are_flagged_visitor_is_not(seeded, capsys):
    findings = scan_output(capsys)
    assert {"ip": HEAVY, "reason": "high_volume", "requests": 150} in findings
    assert {"ip": PROBER, "reason": "probe", "requests": 3} in findings
    assert VISITOR not in {f["ip"] for f in findings}
    prober = SuspiciousIP.objects.get(ip_address=PROBER, reason="probe")
    paths = sorted(request["path"] for request in prober.evidence["requests"])
    assert paths == ["/.env", "/.git/config", "/wp-login.php"]
    assert prober.signature.startswith(("sensitive_files: ", "admin_interfaces: "))
    assert prober.evidence["requests"][0]["status"] == 404


def test_a_second_run_changes_nothing(seeded, capsys):
    first = scan_output(capsys)
    rows = snapshot()
    second = scan_output(capsys)
    assert second == first
    assert snapshot() == rows
    assert SuspiciousIP.objects.count() == len(first)


def test_operator_decisions_survive_a_rescan(seeded):
    scan.scan()
    SuspiciousIP.objects.filter(ip_address=PROBER).update(status="dismissed")
    scan.scan()
    assert SuspiciousIP.objects.get(ip_address=PROBER).status == "dismissed"


def test_scanning_and_rate_limited_clients_are_flagged(client: Client):
    traffic(client, "198.51.100.60", [f"/missing-{i}/" for i in range(25)])
    for _ in range(12):
        client.post("/login/", {"username": "x", "password": "y"}, REMOTE_ADDR="198.51.100.61")
    store()
    reasons = {(f.ip, f.reason) for f in scan.scan()}
    assert ("198.51.100.60", "not_found") in reasons
    assert ("198.51.100.61", "rate_limited") in reasons
    assert ("198.51.100.61", "sensitive") in reasons  # answered 4xx on /login


def test_operators_add_and_ignore_signatures_in_settings(client: Client, settings):
    settings.SECURITY_DETECT_EXTRA_SIGNATURES = {"sensitive_files": ["internal-report.xlsx"]}
    settings.SECURITY_DETECT_IGNORED_SIGNATURES = {"sensitive_files": [".env"]}
    traffic(client, "198.51.100.62", ["/files/INTERNAL-REPORT.xlsx"])
    traffic(client, "198.51.100.63", ["/.env"])
    store()
    flagged = {f.ip for f in scan.scan() if f.reason == "probe"}
    assert flagged == {"198.51.100.62"}


def test_a_rule_switched_off_flags_nothing(seeded, settings):
    settings.SECURITY_DETECT_RULES = {"probe": {"enabled": False}}
    SuspiciousIP.objects.all().delete()  # what streaming flagged while seeding
    assert "probe" not in {f.reason for f in scan.scan()}


def test_staff_allowlisted_and_blocked_traffic_is_not_flagged(client: Client):
    staff = User.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    staff_client = Client()
    staff_client.force_login(staff)
    traffic(staff_client, "10.0.0.5", ["/admin/"] * 120)
    call_command("allow_ip", "192.0.2.70")
    traffic(client, "192.0.2.70", ["/.env"] + ["/"] * 120)
    block(["203.0.113.71"])
    traffic(client, "203.0.113.71", ["/"] * 150 + ["/.env"])
    store()
    flagged = {f.ip for f in scan.scan()}
    assert flagged.isdisjoint({"10.0.0.5", "192.0.2.70", "203.0.113.71"})


def test_only_the_window_counts(settings):
    settings.SECURITY_DETECT_VOLUME_THRESHOLD = 100
    old = timezone.now() - timedelta(hours=3)
    RequestLog.objects.bulk_create(
        RequestLog(
            record_id=uuid.uuid4(),
            timestamp=old,
            ip_address="203.0.113.80",
            method="GET",
            path="/.env",
            status_code=404,
        )
        for _ in range(200)
    )
    assert scan.scan(hours=1) == []
    assert {f.reason for f in scan.scan(hours=4)} == {"high_volume", "probe"}


def test_automatic_blocking_when_enabled(seeded, settings, client: Client):
    settings.SECURITY_AUTO_BLOCK = True
    block([HEAVY])  # already blocked for good: must stay that way
    scan.scan()
    prober = BlockedIP.objects.get(ip_address=PROBER)
    assert prober.source == BlockSource.AUTOMATIC
    assert "probe" in prober.reason
    expected = timezone.now() + timedelta(hours=1)  # the first step of the escalation
    assert abs((prober.expires_at - expected).total_seconds()) < 60
    assert prober.strikes == 1
    assert BlockedIP.objects.get(ip_address=HEAVY).expires_at is None
    assert not is_blocked(VISITOR)
    assert client.get("/", REMOTE_ADDR=PROBER).status_code == 403
    blocks = list(BlockedIP.objects.order_by("ip_address").values_list("ip_address", "expires_at"))
    scan.scan()
    assert (
        list(BlockedIP.objects.order_by("ip_address").values_list("ip_address", "expires_at"))
        == blocks
    )


def test_automatic_block_duration_is_configurable(seeded, settings):
    settings.SECURITY_AUTO_BLOCK = True
    settings.SECURITY_AUTO_BLOCK_DURATION = "2h"
    scan.scan()
    expires_at = BlockedIP.objects.get(ip_address=PROBER).expires_at
    assert abs((expires_at - timezone.now() - timedelta(hours=2)).total_seconds()) < 60


def test_automatic_blocking_is_off_by_default(seeded):
    scan.scan()
    assert not BlockedIP.objects.exists()


def test_a_running_scan_makes_another_skip(seeded, redis_client, capsys):
    lock = redis_client.lock(scan.LOCK_KEY, timeout=30)
    assert lock.acquire(blocking=False)
    assert scan.scan_exclusively() is None
    with pytest.raises(CommandError, match="another anomaly scan is running"):
        call_command("detect_anomalies")
    lock.release()
    assert scan.scan_exclusively()


@pytest.mark.parametrize("hours", ["0", "-1", "abc", "1.5", "100000"])
def test_bad_hours_are_refused(hours):
    with pytest.raises(CommandError, match="--hours must be a whole number"):
        call_command("detect_anomalies", "--hours", hours)


def test_hourly_schedule_and_few_retries():
    assert tasks.detect_anomalies.options["periodic"] == CronSpec.parse("0 * * * *")
    assert tasks.detect_anomalies.options["max_retries"] == 2


def test_the_actor_runs_the_scan_in_a_worker(seeded):
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        tasks.detect_anomalies.send()
        broker.join(tasks.detect_anomalies.queue_name, fail_fast=True)
        worker.join()
    finally:
        worker.stop()
    assert SuspiciousIP.objects.filter(ip_address=HEAVY, reason="high_volume").exists()


def test_streaming_flags_a_probe_within_the_drain_with_its_evidence(client: Client):
    client.get("/.env", REMOTE_ADDR="198.51.100.90", HTTP_USER_AGENT="curl/8")
    client.get("/?q=%3Cscript%3Ealert(1)%3C/script%3E", REMOTE_ADDR="198.51.100.91")
    store()  # the drain: no scan has run
    probe = SuspiciousIP.objects.get(ip_address="198.51.100.90")
    assert (probe.reason, probe.detected_by, probe.signature) == (
        "probe",
        "stream",
        "sensitive_files: .env",
    )
    assert probe.evidence["requests"] == [
        {
            "time": probe.first_seen.isoformat(timespec="seconds"),
            "method": "GET",
            "path": "/.env",
            "query": "",
            "user_agent": "curl/8",
            "status": 404,
        }
    ]
    injection = SuspiciousIP.objects.get(ip_address="198.51.100.91")
    assert injection.reason == "injection"
    assert "<script" in injection.signature
    assert injection.evidence["requests"][0]["query"].startswith("q=%3Cscript")


def test_a_window_given_thousands_of_distinct_members_at_once_counts_them_all():
    # 9,000 paths of one client in one batch: more than Lua can pass to one PFADD at once.
    from security.requestlog import records, stream
    from security.requestlog.record_ids import record_ids

    now = time.time()
    batch = [
        records.Record(next(record_ids.counter), now, "203.0.113.77", "GET", f"/gone/{n}/", 404)
        for n in range(9000)
    ]
    stream.publish([records.encode_batch(batch)])
    tasks.drain_logs()
    flag = SuspiciousIP.objects.get(ip_address="203.0.113.77", reason="not_found")
    counted, describe = flag.signature.split(" ", 1)
    assert describe == "distinct paths answered 404 in 60 s"
    assert abs(int(counted) - 9000) <= 180  # a HyperLogLog's count: within 2%


def test_repeat_offenders_are_blocked_longer_each_time(client: Client, settings):
    settings.SECURITY_AUTO_BLOCK = True
    expected = [timedelta(hours=1), timedelta(hours=4), timedelta(hours=24), timedelta(days=7)]
    for strike, duration in enumerate(expected + [timedelta(days=7)], start=1):
        SuspiciousIP.objects.all().delete()
        BlockedIP.objects.filter(ip_address=PROBER).update(
            expires_at=timezone.now() - timedelta(seconds=1)  # the last block ran out
        )
        blocklist_reload()
        client.get("/.env", REMOTE_ADDR=PROBER)
        store()
        row = BlockedIP.objects.get(ip_address=PROBER)
        assert row.strikes == strike
        assert abs((row.expires_at - timezone.now() - duration).total_seconds()) < 60
        assert client.get("/", REMOTE_ADDR=PROBER).status_code == 403


def test_automatic_blocks_never_touch_a_manual_block_or_an_allowlisted_address(
    client: Client, settings
):
    settings.SECURITY_AUTO_BLOCK = True
    call_command("block_ip", "198.51.100.0/24", "--reason", "known bad network")
    call_command("allow_ip", "192.0.2.99")
    client.get("/.env", REMOTE_ADDR="192.0.2.99")
    store()
    assert not BlockedIP.objects.filter(ip_address="192.0.2.99").exists()
    assert not SuspiciousIP.objects.filter(ip_address="192.0.2.99").exists()
    network = BlockedIP.objects.get(ip_address="198.51.100.0/24")
    assert (network.expires_at, network.reason) == (None, "known bad network")


def test_dry_run_records_what_would_be_blocked_and_blocks_nothing(client: Client, settings):
    settings.SECURITY_AUTO_BLOCK = True
    settings.SECURITY_DETECT_DRY_RUN = True
    client.get("/wp-login.php", REMOTE_ADDR=PROBER)
    store()
    assert not BlockedIP.objects.exists()
    assert client.get("/", REMOTE_ADDR=PROBER).status_code == 200
    assert SuspiciousIP.objects.get(ip_address=PROBER).would_block
    ops = User.objects.create_superuser("ops", password="pw-ops-12345")
    staff = Client()
    staff.force_login(ops)
    assert b"would block" in staff.get("/security/dashboard/").content
    listing = staff.get("/admin/security/suspiciousip/?would_block__exact=1").content.decode()
    assert PROBER in listing


def blocklist_reload() -> None:
    from security.blocking.blocklist import blocklist

    blocklist.reload_now()
