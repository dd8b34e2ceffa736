import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from security.blocking import blocklist, changes
from security.detection import triage
from security.models import AllowedIP, BlockedIP, BlockSource
from tests.conftest import wait_for
from tests.processes import run_manage

pytestmark = pytest.mark.django_db(transaction=True)

DOWN_REDIS = "redis://127.0.0.1:1/0"


def status(client: Client, ip: str, path: str = "/", method: str = "get") -> int:
    return getattr(client, method)(path, REMOTE_ADDR=ip).status_code


@pytest.mark.parametrize(
    ("target", "inside", "outside"),
    [
        ("203.0.113.7", "203.0.113.7", "203.0.113.8"),
        ("198.51.100.0/24", "198.51.100.77", "198.51.101.1"),
        ("2001:db8::7", "2001:db8::7", "2001:db8::8"),
        ("2001:db8:1::/48", "2001:db8:1:ffff::1", "2001:db8:2::1"),
    ],
)
def test_blocked_addresses_and_networks_get_403(client: Client, target, inside, outside):
    call_command("block_ip", target, reason="test")
    assert status(client, inside) == 403
    assert status(client, outside) == 200


def test_block_applies_before_the_view_on_every_path_and_method(client: Client):
    User.objects.create_user("eve", password="pw-eve-12345")
    call_command("block_ip", "203.0.113.9")
    assert status(client, "203.0.113.9", "/does-not-exist/") == 403
    assert status(client, "203.0.113.9", "/admin/") == 403
    response = client.post(
        "/login/", {"username": "eve", "password": "pw-eve-12345"}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 403
    assert response.content == b"Forbidden\n"
    assert "_auth_user_id" not in client.session  # the login view never ran


def test_allowlist_always_wins(client: Client):
    call_command("block_ip", "10.0.0.0/8")
    call_command("allow_ip", "10.1.2.3", reason="office")
    assert status(client, "10.1.2.3") == 200
    assert status(client, "10.1.2.4") == 403
    call_command("allow_ip", "10.1.2.3", remove=True)
    assert status(client, "10.1.2.3") == 403


def test_unblock_lets_the_client_in_again(client: Client):
    call_command("block_ip", "203.0.113.10")
    assert status(client, "203.0.113.10") == 403
    call_command("unblock_ip", "203.0.113.10")
    assert status(client, "203.0.113.10") == 200


def test_expired_blocks_stop_matching_on_time(client: Client):
    changes.block(["203.0.113.11"], expires_at=timezone.now() + timedelta(seconds=1))
    assert status(client, "203.0.113.11") == 403
    time.sleep(1.1)
    # The reload runs in the background, never on a request: the block ends within moments.
    wait_for(lambda: status(client, "203.0.113.11") == 200, timeout=3)


def test_block_ip_records_reason_expiry_and_source():
    call_command("block_ip", "203.0.113.12", "2001:db8::/64", reason="brute force", expires="12h")
    row = BlockedIP.objects.get(ip_address="203.0.113.12")
    assert row.reason == "brute force"
    assert row.source == BlockSource.MANUAL
    expected = timezone.now() + timedelta(hours=12)
    assert abs((row.expires_at - expected).total_seconds()) < 60
    assert BlockedIP.objects.filter(ip_address="2001:db8::/64").exists()


def test_blocking_again_lengthens_the_entry_with_the_longer_blocks_reason():
    call_command("block_ip", "203.0.113.13", reason="first", expires="1h")
    call_command("block_ip", "203.0.113.13", reason="second")
    row = BlockedIP.objects.get(ip_address="203.0.113.13")
    assert (row.reason, row.expires_at) == ("second", None)


def test_a_shorter_block_never_downgrades_a_permanent_one(client: Client):
    call_command("block_ip", "203.0.113.14", reason="known attacker")
    triage.block_flagged(["203.0.113.14"], reason="one click", duration=timedelta(hours=24))
    changes.block(
        ["203.0.113.14"],
        reason="automatic: probe",
        expires_at=timezone.now() + timedelta(hours=1),
        source=BlockSource.AUTOMATIC,
    )
    row = BlockedIP.objects.get(ip_address="203.0.113.14")
    assert row.expires_at is None
    assert row.reason.startswith("known attacker")
    assert row.source == BlockSource.MANUAL
    assert status(client, "203.0.113.14") == 403


def test_a_longer_block_extends_a_shorter_one_and_an_expired_one_is_replaced():
    soon = timezone.now() + timedelta(hours=1)
    later = timezone.now() + timedelta(days=7)
    changes.block(["203.0.113.15"], expires_at=later)
    changes.block(["203.0.113.15"], expires_at=soon)
    assert BlockedIP.objects.get(ip_address="203.0.113.15").expires_at == later
    BlockedIP.objects.filter(ip_address="203.0.113.15").update(
        expires_at=timezone.now() - timedelta(seconds=1), reason="old"
    )
    changes.block(["203.0.113.15"], reason="new", expires_at=soon)
    row = BlockedIP.objects.get(ip_address="203.0.113.15")
    assert (row.reason, row.expires_at) == ("new", soon)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["203.0.113.1", "198.51.10"], "198.51.10"),
        (["10.0.0.0/33"], "10.0.0.0/33"),
        (["1.2.3.4; DROP TABLE security_blockedip"], "DROP TABLE"),
        (["10.0.0.1/8"], "did you mean 10.0.0.0/8"),
        (["203.0.113.1", "--expires", "soon"], "'soon' is not a duration"),
        ([], "nothing to block"),
    ],
)
def test_bad_input_writes_nothing(args, named):
    with pytest.raises(CommandError, match=named):
        call_command("block_ip", *args)
    assert BlockedIP.objects.count() == 0


def test_a_bad_line_in_a_file_writes_nothing(tmp_path):
    targets = tmp_path / "targets.txt"
    targets.write_text("203.0.113.1\n203.0.113.2\nnot-an-address\n")
    with pytest.raises(CommandError, match=r"targets.txt:3: 'not-an-address'"):
        call_command("block_ip", "203.0.113.3", from_file=str(targets))
    assert BlockedIP.objects.count() == 0


def test_from_file_imports_in_bulk(tmp_path):
    lines = [f"10.{i // 256}.{i % 256}.0/24" for i in range(20_000)]
    targets = tmp_path / "bulk.txt"
    targets.write_text("# imported list\n" + "\n".join(lines) + "\n")
    call_command("block_ip", from_file=str(targets), reason="feed")
    assert BlockedIP.objects.filter(source=BlockSource.IMPORT).count() == 20_000
    assert blocklist.is_blocked("10.78.31.200")
    call_command("unblock_ip", *lines[:5000])
    assert BlockedIP.objects.count() == 15_000


def test_command_line_exit_code_and_one_line_error():
    result = run_manage("block_ip", "203.0.113.1", "198.51.10")
    assert result.returncode == 1
    errors = [
        line for line in result.stderr.splitlines() if "W001" not in line and "HINT" not in line
    ]
    assert errors[-1] == "CommandError: '198.51.10' is not an IPv4/IPv6 address or CIDR network"
    assert BlockedIP.objects.count() == 0
    result = run_manage("allow_ip", "10.0.0.1/8")
    assert result.returncode == 1
    assert AllowedIP.objects.count() == 0


@override_settings(SECURITY_REDIS_URL=DOWN_REDIS)
def test_redis_down_keeps_blocking_and_changes_still_arrive(client: Client):
    changes.block(["203.0.113.14"])
    assert status(client, "203.0.113.14") == 403
    changes.block(["203.0.113.15"])  # this process reloads at once after its own change
    assert status(client, "203.0.113.15") == 403
    assert status(client, "203.0.113.14") == 403


def test_database_down_after_loading_keeps_the_last_copy(client: Client, monkeypatch):
    changes.block(["203.0.113.16"])
    assert status(client, "203.0.113.16") == 403

    def database_down():
        from django.db import OperationalError

        raise OperationalError("database is down")

    monkeypatch.setattr(blocklist, "compile_from_database", database_down)
    blocklist.blocklist.reload_now()
    assert status(client, "203.0.113.16") == 403
    assert status(client, "203.0.113.17") == 200


def test_database_down_before_the_first_load_refuses_everyone(client: Client, monkeypatch):
    def database_down():
        from django.db import OperationalError

        raise OperationalError("database is down")

    monkeypatch.setattr(blocklist, "compile_from_database", database_down)
    blocklist.blocklist.reset()
    assert status(client, "203.0.113.18") == 503


def test_lookup_needs_no_query_per_request(client: Client, django_assert_num_queries):
    changes.block([f"10.{i}.0.0/16" for i in range(200)])
    status(client, "203.0.113.19")
    with django_assert_num_queries(0):
        for _ in range(10):
            assert status(client, "10.7.1.1") == 403
            assert status(client, "203.0.113.19") == 200


def test_admin_changes_go_through_validation_and_reach_the_matcher(client: Client):
    User.objects.create_superuser("admin", password="pw-admin-1234")
    client.login(username="admin", password="pw-admin-1234")
    response = client.post(
        "/admin/security/blockedip/add/",
        {
            "ip_address": "10.0.0.1/8",
            "reason": "",
            "source": "manual",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
        REMOTE_ADDR="127.0.0.1",
    )
    assert response.status_code == 200
    assert b"did you mean 10.0.0.0/8" in response.content
    response = client.post(
        "/admin/security/blockedip/add/",
        {
            "ip_address": "2001:DB8::9",
            "reason": "admin",
            "source": "manual",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
        REMOTE_ADDR="127.0.0.1",
    )
    assert response.status_code == 302
    assert BlockedIP.objects.get().ip_address == "2001:db8::9"
    assert Client().get("/", REMOTE_ADDR="2001:db8::9").status_code == 403
