from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from security import tasks
from security.blocking.blocklist import is_blocked
from security.blocking.changes import block
from security.detection import scan
from security.models import BlockedIP, SuspiciousIP
from security.requestlog.buffer import log_buffer
from security.requestlog.records import Record, to_model
from security.requestlog.store import store_records
from tests.conftest import operator

pytestmark = pytest.mark.django_db(transaction=True)


def store() -> None:
    log_buffer.flush()
    tasks.drain_logs()


@pytest.fixture
def traffic(client: Client) -> None:
    for _ in range(30):
        client.get("/", REMOTE_ADDR="203.0.113.90")
    for i in range(5):
        client.get(f"/missing/{i}/", REMOTE_ADDR="198.51.100.91")
    client.get("/.env", REMOTE_ADDR="198.51.100.91")
    for _ in range(9):
        client.post("/login/", {"username": "x", "password": "y"}, REMOTE_ADDR="192.0.2.92")
    block(["192.0.2.93"])
    for _ in range(4):
        client.get("/", REMOTE_ADDR="192.0.2.93")
    store()


@pytest.mark.parametrize("url", ["/security/dashboard/", "/security/dashboard/data.json"])
def test_anonymous_are_sent_to_login_and_users_without_the_permission_refused(client: Client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    client.force_login(User.objects.create_user("user", password="pw-user-12345"))
    assert client.get(url).status_code == 403
    client.force_login(operator("bare-staff"))  # staff, but no permission at all
    assert client.get(url).status_code == 403


def test_data_endpoint_summarises_logged_traffic(traffic, staff_client: Client):
    data = staff_client.get("/security/dashboard/data.json").json()
    assert data["total"] == 49
    assert data["blocked"] == 4
    assert data["rate_limited"] == 4
    assert data["status_classes"] == {"2xx": 35, "3xx": 0, "4xx": 14, "5xx": 0}
    assert data["top_ips"][0] == {"key": "203.0.113.90", "count": 30}
    assert {"key": "/.env", "count": 1} in data["top_paths"]
    assert data["top_countries"] == [{"key": "unknown", "count": 49}]
    assert sum(point["count"] for point in data["series"]) == 49
    assert len(data["series"]) == 24
    week = staff_client.get("/security/dashboard/data.json?range=7d").json()
    assert (week["total"], len(week["series"])) == (49, 168)


def test_top_paths_leave_out_the_operator_looking_but_not_the_admin_login(
    traffic, staff_client: Client
):
    for _ in range(3):
        staff_client.get("/security/dashboard/")
        staff_client.get("/static/security/site.css")
        staff_client.get("/security/events/")
    for _ in range(2):
        Client().post("/admin/login/", {"username": "root", "password": "x"})
    store()
    paths = {
        row["key"] for row in staff_client.get("/security/dashboard/data.json").json()["top_paths"]
    }
    assert "/.env" in paths and "/admin/login/" in paths
    assert not {path for path in paths if path.startswith(("/security/", "/static/security/"))}


def test_rollups_do_not_double_count_redelivered_records(traffic, staff_client: Client):
    from security.models import RequestLog

    rows = list(RequestLog.objects.all())
    batch = [
        Record(
            row.record_id.hex,
            row.timestamp.timestamp(),
            row.ip_address,
            row.method,
            row.path,
            row.status_code,
        )
        for row in rows
    ]
    assert store_records(batch) == 0
    assert staff_client.get("/security/dashboard/data.json").json()["total"] == 49
    assert to_model(batch[0]).record_id == rows[0].record_id


def test_page_lists_suspicious_ips_and_blocks_with_one_click(traffic, staff_client: Client):
    scan.scan()
    page = staff_client.get("/security/dashboard/")
    assert page.status_code == 200
    assert b"198.51.100.91" in page.content
    assert b"chart.umd.min.js" in page.content
    response = staff_client.post("/security/dashboard/block/", {"ip": "198.51.100.91"})
    assert response.status_code == 302
    assert is_blocked("198.51.100.91")
    assert set(
        SuspiciousIP.objects.filter(ip_address="198.51.100.91").values_list("status", flat=True)
    ) == {"blocked"}
    bad = staff_client.post("/security/dashboard/block/", {"ip": "not-an-ip"}, follow=True)
    assert b"is not an IP address" in bad.content


def test_chart_library_is_served_locally_with_its_licence(staff_client: Client):
    from django.contrib.staticfiles import finders

    assert finders.find("security/vendor/chart.umd.min.js")
    assert "MIT License" in Path(finders.find("security/vendor/chart.js-LICENSE.md")).read_text()


def test_log_admin_never_counts_the_whole_table(traffic, staff_client: Client):
    staff = User.objects.get(username="ops")
    staff.is_superuser = True
    staff.save()
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get("/admin/security/requestlog/?status=4xx&country=&method=GET")
    assert response.status_code == 200
    counts = [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper() and "security_requestlog" in q["sql"]
    ]
    assert counts and all(" LIMIT " in sql for sql in counts)  # bounded: never the whole table
    assert staff_client.get("/admin/security/requestlog/?q=203.0.113.90").status_code == 200


def test_suspicious_admin_actions(traffic, staff_client: Client):
    staff = User.objects.get(username="ops")
    staff.is_superuser = True
    staff.save()
    scan.scan()
    url = "/admin/security/suspiciousip/"

    def act(action: str, ip: str) -> None:
        ids = SuspiciousIP.objects.filter(ip_address=ip).values_list("pk", flat=True)
        response = staff_client.post(url, {"action": action, "_selected_action": list(ids)})
        assert response.status_code == 302

    act("block_for_a_day", "198.51.100.91")
    assert is_blocked("198.51.100.91")
    day_block = BlockedIP.objects.get(ip_address="198.51.100.91")
    assert abs((day_block.expires_at - timezone.now() - timedelta(hours=24)).total_seconds()) < 60
    act("block_permanently", "192.0.2.92")
    assert BlockedIP.objects.get(ip_address="192.0.2.92").expires_at is None
    assert set(
        SuspiciousIP.objects.filter(ip_address="192.0.2.92").values_list("status", flat=True)
    ) == {"blocked"}
    act("dismiss", "192.0.2.92")
    assert set(
        SuspiciousIP.objects.filter(ip_address="192.0.2.92").values_list("status", flat=True)
    ) == {"dismissed"}
    act("allowlist", "192.0.2.92")
    from security.models import AllowedIP

    assert AllowedIP.objects.filter(ip_address="192.0.2.92").exists()
    statuses = SuspiciousIP.objects.filter(ip_address="192.0.2.92").values_list("status", flat=True)
    assert set(statuses) == {"allowlisted"}


def test_newest_suspicious_lists_each_flagged_address_once_whatever_its_status(
    settings, client: Client, staff_client: Client
):
    settings.SECURITY_AUTO_BLOCK = True
    for path in ("/.env", "/wp-login.php", "/.git/config", "/phpmyadmin/"):
        client.get(path, REMOTE_ADDR="198.51.100.44", HTTP_USER_AGENT="sqlmap/1.7")
    store()
    rows = SuspiciousIP.objects.filter(ip_address="198.51.100.44")
    assert rows.count() >= 2 and not rows.filter(status="new").exists()
    page = staff_client.get("/security/dashboard/").content.decode()
    table = page.split('id="table-suspicious"')[1].split("</table>")[0]
    assert table.count('href="/security/ip/198.51.100.44/"') == 1
    assert "Nothing flagged" not in page
    assert "blocked</span>" in table
