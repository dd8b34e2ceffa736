"""The request log's admin list at size: pages past any count cap, the query string, the user
agent and a link to each address's page."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from security import requestlog_admin
from security.models import RequestLog

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-root-12345"))
    return client


def test_pages_past_the_count_cap_open_and_show_query_agent_and_address_link(admin_client_):
    now = timezone.now()
    RequestLog.objects.bulk_create(
        [
            RequestLog(
                record_id=uuid.uuid4(),
                timestamp=now - timedelta(seconds=i),
                ip_address=f"192.0.2.{i % 200}",
                method="GET",
                path=f"/item/{i}/",
                query=f"q=needle{i}",
                user_agent="Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0 " + "x" * 100,
                status_code=200,
            )
            for i in range(10_250)
        ],
        batch_size=2000,
    )
    response = admin_client_.get("/admin/security/requestlog/?p=102")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/item/10150/" in page and "q=needle10150" in page
    assert "TestBrowser/1.0" in page and "x" * 100 not in page
    assert 'href="/security/ip/192.0.2.150/"' in page


def test_the_list_shows_visitors_unless_asked_for_the_operators_own(admin_client_):
    now = timezone.now()
    operator = User.objects.get(username="root")

    def row(path: str, user: User | None = None) -> RequestLog:
        return RequestLog(
            record_id=uuid.uuid4(), timestamp=now, ip_address="192.0.2.9", method="GET",
            path=path, status_code=200, user=user,
        )  # fmt: skip

    RequestLog.objects.bulk_create(
        [
            row("/visitor-page/"),
            row("/admin/login/"),  # anonymous: a way in, always shown
            row("/static/security/site.css"),
            row("/static/admin/css/base.css"),
            row("/security/events/", operator),
            row("/staff-browsing/", operator),
        ]
    )

    def listed(query: str = "") -> set[str]:
        page = admin_client_.get("/admin/security/requestlog/" + query).content.decode()
        paths = ["/visitor-page/", "/admin/login/", "/static/security/site.css"]
        paths += ["/static/admin/css/base.css"]
        paths += ["/security/events/", "/staff-browsing/"]
        return {path for path in paths if f">{path}<" in page}

    assert listed() == {"/visitor-page/", "/admin/login/"}
    assert listed("?traffic=own") == {
        "/static/security/site.css",
        "/static/admin/css/base.css",
        "/security/events/",
        "/staff-browsing/",
    }
    assert len(listed("?traffic=all")) == 6


@pytest.mark.parametrize("page", ["abc", "-1", "9" * 20, "1.5"])
def test_a_page_number_that_is_no_number_is_no_error(admin_client_, page):
    RequestLog.objects.create(
        record_id=uuid.uuid4(), timestamp=timezone.now(), ip_address="192.0.2.1", method="GET",
        path="/", status_code=200,
    )  # fmt: skip
    response = admin_client_.get(f"/admin/security/requestlog/?p={page}")
    assert response.status_code in (200, 302)  # Django's admin sends a bad page to ?e=1
    assert response.status_code == 302 or "192.0.2.1" in response.content.decode()


def logged(ip: str, path: str, age: timedelta = timedelta(0)) -> RequestLog:
    return RequestLog(record_id=uuid.uuid4(), timestamp=timezone.now() - age, ip_address=ip,
                      method="GET", path=path, status_code=200)  # fmt: skip


def shown_paths(client: Client, query: str) -> set[str]:
    page = client.get("/admin/security/requestlog/" + query).content.decode()
    return {path for path in ("/a/", "/b/", "/old/", "/needle-new/", "/needle-old/")
            if f">{path}<" in page}  # fmt: skip


def test_the_when_filter_picks_a_recent_period(admin_client_):
    RequestLog.objects.bulk_create([logged("192.0.2.1", "/a/"),
                                    logged("192.0.2.1", "/old/", timedelta(days=3))])  # fmt: skip
    assert shown_paths(admin_client_, "") == {"/a/", "/old/"}
    assert shown_paths(admin_client_, "?when=24h") == {"/a/"}
    assert shown_paths(admin_client_, "?when=7d") == {"/a/", "/old/"}
    assert shown_paths(admin_client_, "?when=bogus") == {"/a/", "/old/"}


def test_search_by_address_by_network_and_by_part_of_a_path(admin_client_):
    RequestLog.objects.bulk_create([logged("192.0.2.1", "/a/"), logged("192.0.2.77", "/b/"),
                                    logged("198.51.100.3", "/needle-new/")])  # fmt: skip
    assert shown_paths(admin_client_, "?q=192.0.2.77") == {"/b/"}
    assert shown_paths(admin_client_, "?q=192.0.2.0/24") == {"/a/", "/b/"}
    assert shown_paths(admin_client_, "?q=NEEDLE") == {"/needle-new/"}
    assert shown_paths(admin_client_, "?q=192.0.2.") == set()  # not an address: a path part


def test_a_path_search_looks_among_the_newest_rows_and_says_how_far_back(
    admin_client_, monkeypatch
):
    monkeypatch.setattr(requestlog_admin, "SEARCH_ROWS", 20)
    RequestLog.objects.bulk_create(
        [logged("192.0.2.1", "/needle-new/")]
        + [logged("192.0.2.1", f"/filler/{n}/", timedelta(minutes=n)) for n in range(1, 30)]
        + [logged("192.0.2.1", "/needle-old/", timedelta(hours=2))]
    )
    page = admin_client_.get("/admin/security/requestlog/?q=needle").content.decode()
    assert ">/needle-new/<" in page and ">/needle-old/<" not in page
    assert "Paths searched among the newest 20 requests (since " in page


def test_no_facet_counts_over_the_whole_log(admin_client_):
    RequestLog.objects.bulk_create([logged("192.0.2.1", "/a/")])
    page = admin_client_.get("/admin/security/requestlog/?_facets=True").content.decode()
    assert ">/a/<" in page
    assert "Show counts" not in page and "Hide counts" not in page
