import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def test_home_page_is_public(client: Client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Welcome" in response.content


def test_login_form_keeps_csrf_protection():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    assert page.status_code == 200
    assert b"csrfmiddlewaretoken" in page.content
    User.objects.create_user("bob", password="pw-bob-12345")
    without_token = client.post("/login/", {"username": "bob", "password": "pw-bob-12345"})
    assert without_token.status_code == 403


def test_login_and_logout_round_trip(client: Client):
    User.objects.create_user("carol", password="pw-carol-1234")
    response = client.post("/login/", {"username": "carol", "password": "pw-carol-1234"})
    assert response.status_code == 302
    assert b"Log out carol" in client.get("/").content
    client.post("/logout/")
    assert b"Log in" in client.get("/").content


def test_wrong_password_shows_an_error(client: Client):
    User.objects.create_user("dave", password="pw-dave-1234")
    response = client.post("/login/", {"username": "dave", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_admin_requires_staff_login(client: Client):
    assert client.get("/admin/").status_code == 302
    User.objects.create_superuser("root", password="pw-root-1234")
    client.login(username="root", password="pw-root-1234")
    assert client.get("/admin/security/blockedip/").status_code == 200
