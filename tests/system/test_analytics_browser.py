"""The analytics page in real headless Chromium against a real server and worker: traffic sent
through the server and a few days of records stored by the drain; the charts paint, the tables
fill, addresses link to their page and a path opens its drill-down."""

import uuid
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from playwright.sync_api import sync_playwright

from security.models import RequestLog
from security.requestlog.records import Record
from security.requestlog.store import store_records
from tests.conftest import operator, wait_for
from tests.processes import ROOT, start_web, start_worker
from tests.system.test_browser import watched_page
from tests.test_analytics import make_traffic

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts"
PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}"""
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def test_analytics_page_draws_its_charts_and_tables():
    ops = operator("analyst", "security.view_requestlog")
    ops.password = make_password("pw-analyst-12345", hasher="pbkdf2_sha256")
    ops.save()
    staff = operator("owner")
    now = timezone.now()
    records = make_traffic(staff, now - timedelta(hours=2))
    for start in range(0, len(records), 500):
        store_records(records[start : start + 500], use_network=False)
    stored = RequestLog.objects.count()
    server, url = start_web()
    worker = start_worker()
    try:
        headers = {"User-Agent": AGENT, "Referer": "https://friends.example.net/links"}
        for path in ["/"] * 12 + ["/gone/"] * 3:
            requests.get(url + path, headers=headers, timeout=10)
        wait_for(lambda: RequestLog.objects.count() >= stored + 15, 30)
        store_records(
            [
                Record(
                    uuid.uuid4().hex,
                    now.timestamp(),
                    "81.2.69.3",
                    "GET",
                    "/",
                    200,
                    1,
                    user_agent=AGENT,
                )
            ],  # fmt: skip
            use_network=False,
        )

        with sync_playwright() as playwright:
            page, errors = watched_page(playwright, 1000)

            page.goto(url + "/security/analytics/?range=7d")
            assert "/login/?next=/security/analytics/" in page.url
            page.fill("#id_username", "analyst")
            page.fill("#id_password", "pw-analyst-12345")
            page.click("form.card button[type=submit]")
            page.wait_for_selector("#analytics[data-loaded='true']", timeout=20_000)

            assert int(page.inner_text("#tile-visitors").replace(",", "")) > 60
            for chart in ("chart-visitors", "chart-bots", "chart-status", "chart-browsers"):
                assert page.evaluate(PAINTED, chart) > 1000, chart
            assert "friends.example.net" in page.inner_text("#table-referrers")
            assert "/gone/" in page.inner_text("#table-not_found")
            assert "Googlebot" in page.inner_text("#table-bots")
            for table in ("pages", "browsers", "systems", "devices", "status", "hosts"):
                assert page.locator(f"#table-{table} tbody tr").count() >= 1, table
            href = page.get_attribute("#table-hosts tbody tr td a", "href")
            assert href.startswith("/security/ip/") and href.endswith("/")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "analytics.png"), full_page=True)

            page.click("#table-pages tbody tr td a")
            page.wait_for_selector("#analytics[data-loaded='true']", timeout=20_000)
            assert "path=" in page.url
            assert page.evaluate(PAINTED, "chart-path") > 1000
            assert page.locator("#table-path-status tbody tr").count() >= 1
            page.screenshot(path=str(ARTIFACTS / "analytics-path.png"), full_page=True)

            page.click("#own-toggle")
            page.wait_for_selector("#analytics[data-loaded='true']", timeout=20_000)
            assert "own=1" in page.url
            assert "Leave out my own traffic" in page.inner_text("#own-toggle")
            page.context.browser.close()
        assert errors == []
    finally:
        server.stop()
        worker.stop()
