"""The request log's admin list at size: pages past any count cap, the query string, the user
agent and a link to each address's page."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

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
