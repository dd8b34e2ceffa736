"""The dashboard in real headless Chromium (Debian's package, driven by Playwright)."""

from pathlib import Path

import pytest
import requests
from django.contrib.auth.hashers import make_password
from playwright.sync_api import Page, Playwright, sync_playwright

from security.detection import scan
from security.models import RequestLog
from tests.conftest import EVERY_OPERATOR_PERMISSION, operator, wait_for
from tests.processes import ROOT, start_web, start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
# Without the background-networking flags Chromium tries to reach Google at every start.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def watched_page(playwright: Playwright, height: int) -> tuple[Page, list[str]]:
    """A new Chromium page, and the list its console errors and uncaught exceptions go to."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": height})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


def test_staff_sees_charts_of_real_traffic_without_console_errors():
    assert Path(CHROMIUM).exists(), "scripts/test.sh installs Debian's chromium package"
    # Hashed with the project's own hasher: the server process must verify it.
    ops = operator("ops", *EVERY_OPERATOR_PERMISSION)
    ops.password = make_password("pw-ops-12345", hasher="pbkdf2_sha256")
    ops.save()
    server, url = start_web()
    worker = start_worker()
    try:
        for path in ["/"] * 20 + [f"/missing/{i}/" for i in range(5)] + ["/.env"]:
            requests.get(url + path, timeout=10)
        wait_for(lambda: RequestLog.objects.filter(method="GET").count() >= 26, 15)
        scan.scan()  # flags the /.env probe, listed under "Newest suspicious IPs"

        with sync_playwright() as playwright:
            page, errors = watched_page(playwright, 900)

            page.goto(url + "/security/dashboard/")
            assert "/login/?next=/security/dashboard/" in page.url
            page.fill("#id_username", "ops")
            page.fill("#id_password", "pw-ops-12345")
            page.click("form.card button[type=submit]")
            page.wait_for_selector("#dashboard[data-loaded='true']", timeout=15_000)

            total = int(page.inner_text("#tile-total").replace(",", ""))
            assert total >= 26
            plotted = page.evaluate(
                "Chart.getChart('chart-series').data.datasets[0].data.reduce((a, b) => a + b, 0)"
            )
            assert plotted == total
            statuses = page.evaluate("Chart.getChart('chart-status').data.datasets[0].data")
            assert statuses[2] >= 6  # the 404s
            assert page.inner_text("#table-ips tbody tr td") == "127.0.0.1"
            assert "/.env" in page.inner_text("#table-paths")
            assert "Probe of a well-known attack path" in page.inner_text("#table-suspicious")

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            page.context.browser.close()
        assert errors == []
    finally:
        server.stop()
        worker.stop()
