"""The operator's console in real headless Chromium against a real server, worker and command
line: an operator follows a flag from the dashboard to the address page, sees what it tried
and the feed that blocks its network, blocks it for 24 hours, sees the block on the page and
in `inspect_ip --json`, and unblocks it; a viewer sees no block button and is refused if the
form is posted anyway."""

import json
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from playwright.sync_api import sync_playwright

from security.blocking.changes import announce_change
from security.models import BlockedIP, BlockSource, SuspiciousIP
from tests.conftest import EVERY_OPERATOR_PERMISSION, operator, wait_for
from tests.processes import ROOT, run_manage, start_web, start_worker
from tests.system.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SHOTS = ROOT / "test-artifacts"
PROBER = "198.51.100.5"
PASSWORD = "pw-console-12345"


def user(name: str, *permissions: str) -> None:
    account = operator(name, *permissions)
    account.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    account.save()


def sign_in(page, url: str, path: str, name: str) -> None:
    page.goto(url + path)
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"**{path}")


def inspected() -> dict:
    """What `manage.py inspect_ip --json` says, from a process of its own (the browser's event
    loop runs in this thread, where Django refuses database calls)."""
    report = run_manage("inspect_ip", PROBER, "--json")
    assert report.returncode == 0, report.stderr
    return json.loads(report.stdout)


def test_an_operator_follows_a_flag_blocks_and_unblocks():
    user("ops", *EVERY_OPERATOR_PERMISSION, "security.delete_blockedip")
    user("viewer", "security.view_requestlog")
    server, url = start_web(SECURITY_TRUSTED_PROXIES="127.0.0.1")
    worker = start_worker()
    try:
        probe = {"X-Forwarded-For": PROBER, "User-Agent": "sqlmap/1.7#stable"}
        for path in ("/.env", "/wp-login.php?redirect=1", "/.git/config"):
            requests.get(url + path, headers=probe, timeout=10)
        wait_for(lambda: SuspiciousIP.objects.filter(ip_address=PROBER).exists(), 30)
        BlockedIP.objects.create(
            ip_address="198.51.100.0/24", source=BlockSource.FEED, feed="spamhaus_drop"
        )
        announce_change()
        SHOTS.mkdir(exist_ok=True)
        errors: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("pageerror", lambda error: errors.append(str(error)))
            sign_in(page, url, "/security/dashboard/", "ops")
            page.wait_for_selector("#dashboard[data-loaded='true']", timeout=20_000)
            page.screenshot(path=str(SHOTS / "console-dashboard.png"), full_page=True)
            page.click(f"#table-suspicious a[href='/security/ip/{PROBER}/']")
            page.wait_for_url(f"**/security/ip/{PROBER}/")
            assert "/.env" in page.inner_text("#table-paths")
            assert "sqlmap/1.7" in page.inner_text("#table-agents")
            assert "feed spamhaus_drop" in page.inner_text("#fate")
            assert "Blocked by 198.51.100.0/24 (feed spamhaus_drop)" in page.inner_text("#verdict")
            assert page.locator("#flags article").count() >= 1
            page.screenshot(path=str(SHOTS / "console-address.png"), full_page=True)

            page.select_option("#action-block select", "24h")
            page.click("#action-block button")
            page.wait_for_selector(".flash.success")
            assert f"{PROBER} is blocked until" in page.inner_text(".flash.success")
            assert f"Blocked by {PROBER} (manual)" in page.inner_text("#verdict")
            data = inspected()
            exact = [b for b in data["blocks"] if b["exact"]]
            assert data["blocked"] and exact and exact[0]["source"] == "manual"
            until = exact[0]["expires_at"]
            left = timezone.datetime.fromisoformat(until) - timezone.now()
            assert timedelta(hours=23) < left <= timedelta(hours=24)

            page.click("#action-unblock button")
            page.wait_for_selector(".flash.success")
            assert "still blocked by 198.51.100.0/24" in page.inner_text(".flash.success")
            assert not [b for b in inspected()["blocks"] if b["exact"]]

            page.goto(url + "/security/events/?range=24h")
            assert PROBER in page.inner_text("#events")
            page.screenshot(path=str(SHOTS / "console-events.png"), full_page=True)
            page.goto(url + "/security/events/now/")
            assert PROBER in page.inner_text("#now")
            page.screenshot(path=str(SHOTS / "console-now.png"), full_page=True)

            viewer = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(viewer, url, f"/security/ip/{PROBER}/", "viewer")
            assert viewer.locator("#action-block").count() == 0
            token = next(c["value"] for c in viewer.context.cookies() if c["name"] == "csrftoken")
            refused = viewer.request.post(
                url + f"/security/ip/{PROBER}/",
                form={"action": "block", "duration": "24h", "csrfmiddlewaretoken": token},
                headers={"Referer": url + f"/security/ip/{PROBER}/"},
            )
            assert refused.status == 403
            assert not [b for b in inspected()["blocks"] if b["exact"]]
            browser.close()
        assert errors == []
    finally:
        server.stop()
        worker.stop()
