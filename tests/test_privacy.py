"""Addresses cut to their networks after N days, and forget_ip leaving no trace."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from security import privacy
from security.models import (
    AllowedIP,
    BlockedIP,
    RequestLog,
    RequestRollup,
    RollupKind,
    SuspiciousIP,
)
from security.requestlog import drain
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
    drain.drain()
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
    drain.drain()
    call_command("forget_ip", "2001:db8:7::/48")
    assert list(RequestLog.objects.values_list("ip_address", flat=True)) == ["2001:db8:8::1"]
    assert "2 address(es)" in capsys.readouterr().out
