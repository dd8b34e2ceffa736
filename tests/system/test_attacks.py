"""Attacks on blocks, limits and staff actions, performed against real server processes and the
real command line, each shown refused. The server trusts 127.0.0.1 as its reverse proxy, so a
request's X-Forwarded-For header stands for what the proxy wrote."""

import http.client
import re
import signal
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from django.contrib.auth.hashers import make_password
from mirakuru import UnixSocketExecutor

from security import tasks
from security.models import AllowedIP, BlockedIP, RequestLog, SuspiciousIP
from tests.conftest import EVERY_OPERATOR_PERMISSION, operator, rate_window_with_room, wait_for
from tests.processes import BIN, ROOT, log_file, process_env, run_manage, start_web

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROXY = "127.0.0.1"


@pytest.fixture(scope="module")
def site(django_db_setup) -> Iterator[str]:  # the test database exists before the server starts
    server, url = start_web(SECURITY_TRUSTED_PROXIES=PROXY)
    yield url
    server.stop()


def get(url: str, client: str, path: str = "/", **headers: str) -> requests.Response:
    return requests.get(url + path, headers={"X-Forwarded-For": client, **headers}, timeout=10)


def form_post(
    session: requests.Session, url: str, path: str, client: str, data: dict
) -> requests.Response:
    page = session.get(url + path, headers={"X-Forwarded-For": client}, timeout=10)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    # A POST-only view has no form of its own: the CSRF cookie's secret is a valid token too.
    token = found.group(1) if found else session.cookies.get("csrftoken", "")
    return session.post(
        url + path,
        data={"csrfmiddlewaretoken": token, **data},
        headers={"X-Forwarded-For": client, "Referer": url + path},
        allow_redirects=False,
        timeout=10,
    )


def signed_in(url: str, username: str, *permissions: str) -> requests.Session:
    user = operator(username, *permissions)
    user.password = make_password("pw-12345-secret", hasher="pbkdf2_sha256")
    user.save()
    session = requests.Session()
    answer = form_post(
        session,
        url,
        "/login/",
        "192.0.2.250",
        {"username": username, "password": "pw-12345-secret"},
    )
    assert answer.status_code == 302, answer.text[:200]
    return session


# 1. An over-long X-Forwarded-For is read from the right: no walking past blocks or limits.
def test_overlong_forwarded_header_cannot_hide_a_blocked_client(site: str):
    assert run_manage("block_ip", "203.0.113.66").returncode == 0
    # 6 kB: more than the 4 kB the app used to give up at; nginx passes it, and gunicorn's
    # own limit is 8 kB a header.
    padding = ", ".join(["6.6.6.6"] * 700)
    wait_for(lambda: get(site, padding + ", 203.0.113.66").status_code == 403, timeout=5)
    assert get(site, "203.0.113.67").status_code == 200
    # The server flushes its records to the stream within a second; drain them here.
    wait_for(lambda: tasks.drain_logs() >= 0 and logged(ip="203.0.113.66", blocked=True))
    assert not logged(ip=PROXY, method="GET")  # (the start-up health checks are HEADs)


def logged(**filters) -> bool:
    filters = {("ip_address" if key == "ip" else key): value for key, value in filters.items()}
    return RequestLog.objects.filter(**filters).exists()


def test_overlong_forwarded_header_gets_no_fresh_rate_limit_bucket(site: str):
    session = requests.Session()
    padding = ", ".join(["6.6.6.6"] * 700)
    rate_window_with_room("203.0.113.68")
    codes = [
        form_post(
            session, site, "/login/", f"{padding}, 203.0.113.68", {"username": "x"}
        ).status_code
        for _ in range(4)
    ] + [
        form_post(session, site, "/login/", "203.0.113.68", {"username": "x"}).status_code
        for _ in range(2)
    ]
    assert codes == [200] * 5 + [429]


# 2. Every way into an account is limited, the admin login included.
def test_admin_login_is_limited_and_the_right_password_does_not_get_through(site: str):
    user = operator("root")
    user.password = make_password("the-right-password", hasher="pbkdf2_sha256")
    user.save()
    session = requests.Session()

    def attempt(password: str) -> int:
        return form_post(
            session,
            site,
            "/admin/login/",
            "203.0.113.70",
            {"username": "root", "password": password, "next": "/admin/"},
        ).status_code

    rate_window_with_room("203.0.113.70")
    assert [attempt(f"guess-{i}") for i in range(5)] == [200] * 5
    assert attempt("the-right-password") == 429
    assert "sessionid" not in session.cookies
    # Another client is not affected.
    assert form_post(session, site, "/admin/login/", "203.0.113.71", {}).status_code == 200


# 3. Behind a unix socket the client is read from the header only when 'unix' is trusted.
class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def unix_request(path: str, method: str, target: str, client: str, body: str = "") -> int:
    connection = UnixHTTPConnection(path)
    headers = {"X-Forwarded-For": client, "Host": "localhost"}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, target, body=body or None, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def start_on_unix_socket(tmp_path, **env: str) -> tuple[UnixSocketExecutor, str]:
    path = str(tmp_path / "gunicorn.sock")
    command = [str(BIN / "gunicorn"), "project.wsgi", "--bind", f"unix:{path}", "--workers", "1"]
    server = UnixSocketExecutor(
        command,
        socket_name=path,
        cwd=str(ROOT),
        envvars=process_env(**env),
        timeout=30,
        stop_signal=signal.SIGTERM,
        stdout=log_file("web-unix"),
        stderr=log_file("web-unix"),
    )
    server.start()
    return server, path


def test_unix_socket_without_configuration_refuses_instead_of_guessing(tmp_path):
    server, path = start_on_unix_socket(tmp_path)
    try:
        assert unix_request(path, "GET", "/", "203.0.113.80") == 400
        assert unix_request(path, "GET", "/", "203.0.113.81") == 400
    finally:
        server.stop()
    log = (ROOT / ".run" / "test-web-unix.log").read_text()
    assert "add 'unix' to SECURITY_TRUSTED_PROXIES" in log
    assert "ip_tracking.W003" in run_manage("check", "--deploy").stderr


def test_unix_socket_trusted_gives_each_client_its_address_block_and_bucket(tmp_path):
    assert run_manage("block_ip", "203.0.113.82").returncode == 0
    server, path = start_on_unix_socket(tmp_path, SECURITY_TRUSTED_PROXIES="unix")
    try:
        assert unix_request(path, "GET", "/", "203.0.113.82") == 403
        assert unix_request(path, "GET", "/", "203.0.113.83") == 200
        # One client's POSTs exhaust its own bucket only (CSRF refuses them, the count stands).
        codes = [unix_request(path, "POST", "/login/", "203.0.113.84", "a=b") for _ in range(6)]
        assert codes == [403] * 5 + [429]
        assert unix_request(path, "POST", "/login/", "203.0.113.85", "a=b") == 403
        assert unix_request(path, "GET", "/", "") == 400  # no header: unknown, refused
    finally:
        server.stop()


# 4. Staff is not a permission: each action needs the model permission it changes.
def test_staff_without_permissions_can_neither_read_nor_block(site: str):
    session = signed_in(site, "bare-staff")
    assert session.get(site + "/security/dashboard/data.json", timeout=10).status_code == 403
    answer = form_post(
        session, site, "/security/dashboard/block/", "192.0.2.250", {"ip": "1.2.3.4"}
    )
    assert answer.status_code == 403
    assert not BlockedIP.objects.exists()


def test_view_only_user_sees_no_buttons_and_cannot_run_the_actions(site: str):
    from django.utils import timezone

    now = timezone.now()
    flagged = SuspiciousIP.objects.create(
        ip_address="203.0.113.90",
        reason="probe",
        window_start=now,
        window_end=now,
        requests=1,
        first_seen=now,
        last_seen=now,
    )
    session = signed_in(site, "viewer", "security.view_requestlog", "security.view_suspiciousip")
    page = session.get(site + "/security/dashboard/", timeout=10).text
    assert "203.0.113.90" in page
    assert "Block 24 h" not in page
    listing = session.get(site + "/admin/security/suspiciousip/", timeout=10).text
    for action in ("block_permanently", "allowlist", "block_for_a_day", "dismiss"):
        assert f'value="{action}"' not in listing
    for action in ("block_permanently", "allowlist", "dismiss"):
        form_post(
            session,
            site,
            "/admin/security/suspiciousip/",
            "192.0.2.250",
            {"action": action, "_selected_action": str(flagged.pk), "index": "0"},
        )
    assert not BlockedIP.objects.exists()
    assert not AllowedIP.objects.exists()
    assert SuspiciousIP.objects.get(pk=flagged.pk).status == "new"


def test_operator_with_the_permissions_blocks_from_the_dashboard(site: str):
    session = signed_in(site, "ops", *EVERY_OPERATOR_PERMISSION)
    answer = form_post(
        session, site, "/security/dashboard/block/", "192.0.2.250", {"ip": "203.0.113.91"}
    )
    assert answer.status_code == 302
    assert BlockedIP.objects.filter(ip_address="203.0.113.91").exists()


# 5. A one-click 24-hour block never downgrades a permanent one.
def test_one_click_block_keeps_a_permanent_block_and_its_reason(site: str):
    assert run_manage("block_ip", "203.0.113.92", "--reason", "known attacker").returncode == 0
    session = signed_in(site, "ops", *EVERY_OPERATOR_PERMISSION)
    form_post(session, site, "/security/dashboard/block/", "192.0.2.250", {"ip": "203.0.113.92"})
    row = BlockedIP.objects.get(ip_address="203.0.113.92")
    assert row.expires_at is None
    assert row.reason.startswith("known attacker")


# 6. IPv4-mapped blocks match the IPv4 clients they name.
def test_ipv4_mapped_block_matches_the_client(site: str):
    assert run_manage("block_ip", "::ffff:1.2.3.0/120").returncode == 0
    assert BlockedIP.objects.get().ip_address == "1.2.3.0/24"
    wait_for(lambda: get(site, "1.2.3.4").status_code == 403, timeout=5)
    assert get(site, "1.2.4.4").status_code == 200


# 7. Scoped IPv6 targets are refused everywhere, before the database.
@pytest.mark.parametrize("target", ["2001:db8::1%eth0", "2001:db8::1%" + "e" * 55])
def test_scoped_targets_are_refused_with_one_line(target: str):
    for command in ("block_ip", "unblock_ip", "allow_ip"):
        result = run_manage(command, target)
        assert result.returncode == 1, result.stderr
        assert "zone" in result.stderr
        assert "Traceback" not in result.stderr
    result = run_manage("geolocate", target)
    assert result.returncode == 1
    assert not BlockedIP.objects.exists()


def test_scoped_target_on_the_dashboard_is_refused_not_a_500(site: str):
    session = signed_in(site, "ops", *EVERY_OPERATOR_PERMISSION)
    for target in ("2001:db8::1%eth0", "2001:db8::1%" + "e" * 60, "0.0.0.0/0"):
        answer = form_post(
            session, site, "/security/dashboard/block/", "192.0.2.250", {"ip": target}
        )
        assert answer.status_code == 302
    assert not BlockedIP.objects.exists()


# 8. Blocking the world needs --force on the command line and is refused in the UI.
def test_huge_networks_need_force(site: str):
    for target in ("0.0.0.0/0", "::/0", "::ffff:0:0/96", "10.0.0.0/7"):
        result = run_manage("block_ip", target)
        assert result.returncode == 1
        assert "--force" in result.stderr
        assert len([line for line in result.stderr.splitlines() if "CommandError" in line]) == 1
    assert not BlockedIP.objects.exists()
    assert run_manage("block_ip", "10.0.0.0/7", "--force").returncode == 0
    assert BlockedIP.objects.filter(ip_address="10.0.0.0/7").exists()


def test_admin_refuses_a_huge_network(site: str):
    session = signed_in(site, "ops", *EVERY_OPERATOR_PERMISSION)
    answer = form_post(
        session,
        site,
        "/admin/security/blockedip/add/",
        "192.0.2.250",
        {
            "ip_address": "0.0.0.0/0",
            "reason": "",
            "source": "manual",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    assert answer.status_code == 200
    assert "refused without --force" in answer.text
    assert not BlockedIP.objects.exists()


# 9. Trusting the world as a proxy is an error, not a silent pass.
@pytest.mark.parametrize("proxies", ["0.0.0.0/0", "8.8.8.0/24", "::/0"])
def test_check_fails_when_the_trusted_proxies_are_public(proxies: str):
    result = run_manage("check", SECURITY_TRUSTED_PROXIES=proxies)
    assert result.returncode == 1
    assert "ip_tracking.E003" in result.stderr


# 10. The app's check ids are its own.
def test_check_ids_do_not_collide_with_djangos():
    result = run_manage("check", "--deploy", DJANGO_SECURE_SSL_REDIRECT="0")
    ours = re.findall(r"\((ip_tracking\.\w+)\)", result.stderr)
    assert ours
    assert "(security.W001)" not in result.stderr  # Django's own W001: SecurityMiddleware is on


# 11. A negative duration is one line and exit 1, like any other bad input.
def test_negative_expiry_is_one_line_exit_one():
    result = run_manage("block_ip", "203.0.113.99", "--expires", "-5m")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "--expires" in lines[0]
    result = run_manage("block_ip", "203.0.113.99", "--expires=-5m")
    assert result.returncode == 1
    assert "is not a duration" in result.stderr
    assert not BlockedIP.objects.exists()


# 12. Every way into an account shares one counter per client.
def test_the_site_login_and_the_admin_login_share_one_counter(site: str):
    session = requests.Session()
    rate_window_with_room("203.0.113.90")
    site_login = [
        form_post(session, site, "/login/", "203.0.113.90", {"username": "x"}).status_code
        for _ in range(3)
    ]
    admin_login = [
        form_post(session, site, "/admin/login/", "203.0.113.90", {"username": "x"}).status_code
        for _ in range(3)
    ]
    assert site_login + admin_login == [200] * 5 + [429]


# 13. Credential stuffing: one guess from each of many addresses, all at one account.
def account_window_with_room(needed: float = 60.0) -> None:
    from security import account_limits

    _limit, period, number = account_limits.window()
    left = (number + 1) * period - time.time()
    if left < needed:
        time.sleep(left + 1.5)


def test_guesses_at_one_account_from_many_addresses_are_limited_per_account(site: str):
    victim = operator("victim")
    victim.password = make_password("the-victims-password", hasher="pbkdf2_sha256")
    victim.save()
    account_window_with_room()
    answers = [
        form_post(
            requests.Session(),
            site,
            "/admin/login/" if n % 2 else "/login/",
            f"198.51.100.{n + 1}",
            {"username": "victim", "password": f"guess-{n}", "next": "/admin/"},
        ).status_code
        for n in range(10)
    ]
    assert answers == [200] * 10  # each address guessed once: no per-client limit was hit
    stuffed = requests.Session()
    right = form_post(
        stuffed,
        site,
        "/login/",
        "198.51.100.50",
        {"username": "Victim ", "password": "the-victims-password"},
    )
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
    assert "sessionid" not in stuffed.cookies
    # Other accounts are not held up.
    other = operator("bystander")
    other.password = make_password("bystanders-password", hasher="pbkdf2_sha256")
    other.save()
    answer = form_post(
        requests.Session(),
        site,
        "/login/",
        "198.51.100.51",
        {"username": "bystander", "password": "bystanders-password"},
    )
    assert answer.status_code == 302
