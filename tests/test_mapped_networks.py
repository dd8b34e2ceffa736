"""IPv6 networks of /96 or wider that hold ::ffff:0:0/96 cover every IPv4 client (clients are
normalised to IPv4): judged by what they cover after mapping, wherever a network comes in."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from pytest_httpserver import HTTPServer

from security.addresses import InvalidInput, parse_target
from security.blocking import feeds
from security.client_ip import resolve_client_ip
from security.models import AllowedIP, BlockedIP
from tests.conftest import operator
from tests.processes import run_manage

pytestmark = pytest.mark.django_db(transaction=True)

COVERING_IPV4 = ["::/64", "::/32", "::/80", "::/8", "::/1", "0::/16"]


@pytest.mark.parametrize("text", COVERING_IPV4)
def test_networks_holding_the_mapped_range_need_force(text):
    with pytest.raises(InvalidInput, match="every IPv4 address"):
        parse_target(text)
    assert parse_target(text, allow_huge=True) == text.replace("0::", "::")


@pytest.mark.parametrize("text", ["::/97", "2001:db8::/32", "64:ff9b::/96", "::1"])
def test_ipv6_networks_beside_the_mapped_range_are_judged_as_usual(text):
    assert parse_target(text) == text


@pytest.mark.parametrize("command", ["block_ip", "allow_ip"])
def test_the_commands_refuse_them_and_change_nothing(command, client: Client):
    result = run_manage(command, "::/64")
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("CommandError: '::/64' contains ::ffff:0:0/96")
    assert "every IPv4 address" in last
    assert not BlockedIP.objects.exists() and not AllowedIP.objects.exists()
    assert client.get("/", REMOTE_ADDR="198.51.100.1").status_code == 200


def test_an_allowlisted_wide_ipv6_network_would_let_every_blocked_ipv4_client_in(client: Client):
    call_command("block_ip", "198.51.100.1")
    with pytest.raises(CommandError, match="every IPv4 address"):
        call_command("allow_ip", "::/64")
    assert client.get("/", REMOTE_ADDR="198.51.100.1").status_code == 403
    call_command("allow_ip", "::/64", force=True)  # the operator said so
    assert client.get("/", REMOTE_ADDR="198.51.100.1").status_code == 200


def test_block_ip_with_force_does_what_it_says(client: Client):
    call_command("block_ip", "::/64", force=True)
    assert client.get("/", REMOTE_ADDR="198.51.100.2").status_code == 403


@pytest.mark.parametrize("model", ["allowedip", "blockedip"])
def test_the_admin_refuses_them(model, client: Client):
    codenames = {"allowedip": "allowedip", "blockedip": "blockedip"}[model]
    staff = operator("ops", f"security.add_{codenames}", f"security.change_{codenames}")
    client.force_login(staff)
    response = client.post(
        f"/admin/security/{model}/add/",
        {
            "ip_address": "::/64",
            "reason": "",
            "source": "manual",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
        REMOTE_ADDR="127.0.0.1",
    )
    assert response.status_code == 200
    assert b"every IPv4 address" in response.content
    assert not BlockedIP.objects.exists() and not AllowedIP.objects.exists()


def test_a_feed_line_holding_the_mapped_range_is_skipped(httpserver: HTTPServer, client: Client):
    url = httpserver.url_for("/v6-bogons.txt")
    httpserver.expect_request("/v6-bogons.txt").respond_with_data(
        "# fullbogons-ipv6\n::/8\n100::/64\n2001:db8::/32\n198.51.100.0/24\n"
    )
    call_command("import_blocklist", "bogons", url=url)
    assert feeds.current_entries("bogons") == {"100::/64", "2001:db8::/32", "198.51.100.0/24"}
    assert client.get("/", REMOTE_ADDR="203.0.113.1").status_code == 200
    assert client.get("/", REMOTE_ADDR="198.51.100.9").status_code == 403
    assert client.get("/", REMOTE_ADDR="2001:db8::5").status_code == 403


def test_the_nginx_export_never_denies_all_of_ipv4_by_accident(httpserver: HTTPServer, capsys):
    httpserver.expect_request("/list.txt").respond_with_data("::/8\n203.0.113.0/24\n")
    call_command("import_blocklist", "list", url=httpserver.url_for("/list.txt"))
    capsys.readouterr()
    call_command("export_blocklist", format="nginx")
    exported = capsys.readouterr().out
    assert "deny 203.0.113.0/24;" in exported
    assert "0.0.0.0/0" not in exported


def test_a_trusted_proxy_written_as_a_mapped_address_is_the_proxy_it_names():
    meta = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.50"}
    for proxies in (("::ffff:127.0.0.1",), ("::ffff:127.0.0.0/104",)):
        assert resolve_client_ip(meta, proxies, "HTTP_X_FORWARDED_FOR") == "203.0.113.50"


@override_settings(SECURITY_TRUSTED_PROXIES=["::ffff:127.0.0.1"])
def test_a_mapped_trusted_proxy_through_real_requests(client: Client):
    call_command("block_ip", "203.0.113.51")
    blocked = client.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.51")
    assert blocked.status_code == 403
    assert (
        client.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.52").status_code
        == 200
    )


def test_superusers_see_the_same_refusal():
    User.objects.create_superuser("root", password="pw-root-12345")
    client = Client()
    client.login(username="root", password="pw-root-12345")
    response = client.post("/admin/security/allowedip/add/", {"ip_address": "::/80", "reason": ""})
    assert b"every IPv4 address" in response.content
    assert not AllowedIP.objects.exists()
