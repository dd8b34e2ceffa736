"""The blocklist's admin pages, as a staff user uses them: a suspicious IP's Status that does
what it says, feed states, and a search that finds the networks covering an address."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from security.blocking import feeds
from security.blocking.feed_config import make_feed
from security.models import SuspiciousIP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client() -> Client:
    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.login(username="root", password="pw")
    return client


def flagged(ip: str) -> SuspiciousIP:
    now = timezone.now()
    return SuspiciousIP.objects.create(
        ip_address=ip,
        reason="probe",
        window_start=now - timedelta(hours=1),
        window_end=now,
        requests=12,
        first_seen=now - timedelta(minutes=30),
        last_seen=now,
    )


def save_status(client: Client, row: SuspiciousIP, status: str) -> None:
    url = f"/admin/security/suspiciousip/{row.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name, "") for name in form.fields}
    data = {name: "" if value is None else value for name, value in data.items()}
    data["status"] = status
    assert client.post(url, data).status_code == 302


def changelist(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_status_blocked_in_the_admin_blocks_and_the_list_shows_what_the_blocklist_does(
    admin_client: Client,
):
    row = flagged("198.51.100.61")
    assert Client().get("/", REMOTE_ADDR="198.51.100.61").status_code == 200
    save_status(admin_client, row, "blocked")
    assert Client().get("/", REMOTE_ADDR="198.51.100.61").status_code == 403
    page = changelist(admin_client, "/admin/security/suspiciousip/")
    assert ">blocked<" in page
    call_command("unblock_ip", "198.51.100.61")
    assert Client().get("/", REMOTE_ADDR="198.51.100.61").status_code == 200
    page = changelist(admin_client, "/admin/security/suspiciousip/")
    assert "not blocked (its block ended or was removed)" in page


def test_feed_states_are_listed_read_only(admin_client: Client, tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("203.0.113.0/28\n203.0.113.77\n")
    feeds.refresh(make_feed("local_list", {"file": str(path)}))
    page = changelist(admin_client, "/admin/security/feedstate/")
    assert "local_list" in page
    assert admin_client.get("/admin/security/feedstate/add/").status_code == 403


def test_searching_an_address_finds_the_network_that_blocks_it(admin_client: Client, tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("45.155.205.0/24\n")
    call_command("import_blocklist", "hosters", file=str(path))
    call_command("block_ip", "45.155.0.0/16", reason="by hand")
    call_command("block_ip", "198.51.100.9")
    page = changelist(admin_client, "/admin/security/blockedip/?q=45.155.205.10")
    assert "45.155.205.0/24" in page and "45.155.0.0/16" in page
    assert "198.51.100.9" not in page
