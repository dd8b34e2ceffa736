"""Addresses cut to their networks after N days, and forget_ip leaving no trace."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from security import privacy, tasks
from security.models import (
    AllowedIP,
    BlockedIP,
    RequestLog,
    RequestRollup,
    RollupKind,
    SuspiciousIP,
)
from security.requestlog.buffer import log_buffer

pytestmark = pytest.mark.django_db(transaction=True)


def old_row(ip: str, days: int) -> RequestLog:
    return RequestLog(
        record_id=uuid.uuid4(),
        timestamp=timezone.now() - timedelta(days=days),
        ip_address=ip,
        method="GET",
        path="/",
        status_code=200,
    )


@pytest.mark.parametrize(
    ("ip", "kept"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:1234:5678::9", "2001:db8:1234::"),
        ("2001:db8:1234:ffff:ffff:ffff:ffff:ffff", "2001:db8:1234::"),
    ],
)
def test_truncation_is_ipv4_24_and_ipv6_48(ip, kept):
    assert privacy.truncated(ip) == kept


def test_old_addresses_are_cut_and_counts_are_kept(settings):
    RequestLog.objects.bulk_create(
        [old_row("203.0.113.77", 10), old_row("203.0.113.78", 10), old_row("203.0.113.79", 1)]
    )
    hour = (timezone.now() - timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    RequestRollup.objects.bulk_create(
        [
            RequestRollup(hour=hour, kind=RollupKind.IP, key="203.0.113.77", count=3),
            RequestRollup(hour=hour, kind=RollupKind.IP, key="203.0.113.78", count=4),
        ]
    )
    settings.SECURITY_ANONYMIZE_AFTER_DAYS = 7
    from security import tasks

    tasks.delete_old_request_logs()
    ips = sorted(RequestLog.objects.values_list("ip_address", flat=True))
    assert ips == ["203.0.113.0", "203.0.113.0", "203.0.113.79"]
    rollup = RequestRollup.objects.get(kind=RollupKind.IP, hour=hour)
    assert (rollup.key, rollup.count) == ("203.0.113.0", 7)
    assert privacy.anonymize_older_than(7) == 0  # idempotent


def test_forget_ip_leaves_no_trace(client: Client, capsys, redis_client):
    for _ in range(3):
        client.get("/.env", REMOTE_ADDR="203.0.113.90")
    client.get("/", REMOTE_ADDR="203.0.113.91")
    log_buffer.flush()
    tasks.drain_logs()
    call_command("block_ip", "203.0.113.90")
    call_command("allow_ip", "203.0.113.90/32")
    assert SuspiciousIP.objects.filter(ip_address="203.0.113.90").exists()
    call_command("forget_ip", "203.0.113.90")
    out = capsys.readouterr().out
    assert "request logs 3" in out
    assert "suspicious IPs 1" in out
    for model, field in (
        (RequestLog, "ip_address"),
        (SuspiciousIP, "ip_address"),
        (BlockedIP, "ip_address"),
        (AllowedIP, "ip_address"),
    ):
        assert not model.objects.filter(**{field: "203.0.113.90"}).exists(), model
    assert not RequestRollup.objects.filter(key="203.0.113.90").exists()
    assert not list(redis_client.scan_iter("*203.0.113.90*"))
    assert RequestLog.objects.filter(ip_address="203.0.113.91").count() == 1  # others stay
    total = RequestRollup.objects.filter(kind=RollupKind.TOTAL).aggregate(n=Sum("count"))["n"]
    assert total == 4  # aggregate counts name nobody and are kept


def test_forget_a_network(client: Client, capsys):
    client.get("/", REMOTE_ADDR="2001:db8:7::1")
    client.get("/", REMOTE_ADDR="2001:db8:7::2")
    client.get("/", REMOTE_ADDR="2001:db8:8::1")
    log_buffer.flush()
    tasks.drain_logs()
    call_command("forget_ip", "2001:db8:7::/48")
    assert list(RequestLog.objects.values_list("ip_address", flat=True)) == ["2001:db8:8::1"]
    assert "(2 addresses)" in capsys.readouterr().out


def flagged_row(ip: str, hour, requests: int) -> SuspiciousIP:
    return SuspiciousIP(
        ip_address=ip,
        reason="probe",
        window_start=hour,
        window_end=hour + timedelta(hours=1),
        requests=requests,
        total_requests=requests,
        first_seen=hour,
        last_seen=hour + timedelta(minutes=requests),
        evidence={"requests": [{"path": f"/{ip}"}]},
    )


def test_two_addresses_of_one_network_flagged_in_one_hour_become_one_row(settings):
    hour = (timezone.now() - timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    SuspiciousIP.objects.bulk_create(
        [flagged_row("203.0.113.5", hour, 2), flagged_row("203.0.113.6", hour, 3)]
    )
    RequestLog.objects.bulk_create([old_row("203.0.113.5", 10), old_row("203.0.113.6", 10)])
    settings.SECURITY_ANONYMIZE_AFTER_DAYS = 7
    from security import tasks

    tasks.delete_old_request_logs()  # used to fail on the one-row-per-window constraint
    (row,) = SuspiciousIP.objects.all()
    assert (row.ip_address, row.requests, row.total_requests) == ("203.0.113.0", 5, 5)
    assert len(row.evidence["requests"]) == 2
    assert set(RequestLog.objects.values_list("ip_address", flat=True)) == {"203.0.113.0"}
    assert privacy.anonymize_older_than(7) == 0  # the watermark moved on


def test_forget_ip_reaches_records_the_worker_has_not_stored_yet(client: Client, capsys):
    for path in ("/", "/about/", "/.env"):
        client.get(path, REMOTE_ADDR="203.0.113.92")
    client.get("/", REMOTE_ADDR="203.0.113.93")
    log_buffer.flush()  # in the stream; the worker is stopped
    call_command("forget_ip", "203.0.113.92")
    assert "records not yet stored 3" in capsys.readouterr().out
    tasks.drain_logs()  # the worker comes back
    assert list(RequestLog.objects.values_list("ip_address", flat=True)) == ["203.0.113.93"]
    assert not RequestRollup.objects.filter(key="203.0.113.92").exists()
    assert not SuspiciousIP.objects.exists()


def test_records_still_in_a_web_process_when_it_forgets_are_dropped_by_the_drain(client: Client):
    client.get("/", REMOTE_ADDR="2001:db8:9::1")
    call_command("forget_ip", "2001:db8:9::/48")  # the record is still in this process
    log_buffer.flush()
    tasks.drain_logs()
    assert not RequestLog.objects.exists()
    assert not RequestRollup.objects.filter(kind=RollupKind.IP).exists()


def test_dead_letters_naming_the_address_are_deleted(redis_client, capsys):
    from security.requestlog import keys, records

    record = records.Record("0" * 32, 1.0, "203.0.113.94", "GET", "/", 200)
    redis_client.xadd(keys.dead_letters(), {"b": records.encode_batch([record])})
    redis_client.xadd(keys.dead_letters(), {"b": b"\x00 garbage 203.0.113.94 garbage"})
    redis_client.xadd(keys.dead_letters(), {"b": b"\x00 garbage 203.0.113.95"})
    call_command("forget_ip", "203.0.113.94")
    assert "dead letters 2" in capsys.readouterr().out
    assert redis_client.xlen(keys.dead_letters()) == 1


def test_queued_alerts_naming_the_address_are_dropped(settings, capsys):
    import dramatiq

    from security.alerts import WEBHOOK_QUEUE

    settings.SECURITY_ALERT_WEBHOOK_URL = "http://127.0.0.1:9/hook"  # never reached
    call_command("block_ip", "203.0.113.96")
    call_command("block_ip", "203.0.113.97")
    queue = dramatiq.get_broker().queues[WEBHOOK_QUEUE]
    assert queue.qsize() == 2
    call_command("forget_ip", "203.0.113.96")
    assert "queued alerts 1" in capsys.readouterr().out
    assert queue.qsize() == 1
    assert b"203.0.113.96" not in queue.queue[0]


def test_an_alert_a_worker_already_holds_is_not_sent_after_forget(httpserver, settings):
    from security import alerts

    settings.SECURITY_ALERT_WEBHOOK_URL = httpserver.url_for("/hook")
    event = alerts.blocked_event(["203.0.113.98"], "abuse", None, "manual")
    call_command("forget_ip", "203.0.113.98")
    alerts.deliver(event)  # what a retry of a failed post would do
    assert not httpserver.log


def test_forget_says_what_it_could_not_reach_while_redis_is_down(settings):
    from django.core.management import CommandError

    settings.SECURITY_REDIS_URL = "redis://127.0.0.1:1/0"
    RequestLog.objects.bulk_create([old_row("203.0.113.99", 1)])
    with pytest.raises(CommandError, match="Redis unreachable"):
        call_command("forget_ip", "203.0.113.99")
    assert not RequestLog.objects.exists()  # the database part was done
