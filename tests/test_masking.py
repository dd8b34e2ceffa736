"""Secrets in links never reach storage: a viewer of the request log must not be able to use
a password-reset link, or any `?token=` link, that someone else opened."""

import importlib
import uuid

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from security import tasks
from security.blocking.changes import block
from security.dashboard import summary
from security.models import RequestLog, RequestRollup, RollupKind, SuspiciousIP
from security.requestlog.buffer import log_buffer
from security.requestlog.masking import mask_query

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.urls")]


def stored() -> list[RequestLog]:
    log_buffer.flush()
    tasks.drain_logs()
    return list(RequestLog.objects.order_by("timestamp"))


def reset_link(user: User) -> tuple[str, str]:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"/reset/{uid}/{token}/", token


def everything_stored() -> str:
    rows = RequestLog.objects.values_list("path", "query", "referer")
    keys = RequestRollup.objects.values_list("key", flat=True)
    return repr(list(rows)) + repr(list(keys)) + repr(summary("24h"))


def test_a_password_reset_token_is_masked_in_the_stored_path(client: Client):
    owner = User.objects.create_superuser("owner", "owner@example.org", "old-password-1")
    link, token = reset_link(owner)
    answer = client.get(link, REMOTE_ADDR="203.0.113.5")
    assert answer.status_code == 302  # a valid link: Django swaps the token for the session
    (row,) = stored()
    assert token not in everything_stored()
    assert row.path.endswith("/[masked]/")
    # What a viewer of the log could copy is no link at all.
    page = Client().get(row.path, REMOTE_ADDR="203.0.113.6")
    assert page.status_code == 200 and not page.context["validlink"]


def test_a_blocked_client_opening_a_reset_link_is_masked_too(client: Client):
    owner = User.objects.create_user("someone", "someone@example.org", "password-123")
    link, token = reset_link(owner)
    block(["203.0.113.7"])
    assert client.get(link, REMOTE_ADDR="203.0.113.7").status_code == 403  # never resolved
    stored()
    assert token not in everything_stored()
    assert RequestLog.objects.get().path.endswith("/[masked]/")


@pytest.mark.parametrize(
    ("query", "kept", "secret"),
    [
        ("token=s3cr3t-abc&next=/home/", "next=/home/", "s3cr3t-abc"),
        ("email=a@example.org&code=981273", "email=a@example.org", "981273"),
        ("X-Amz-Signature=deadbeef42&X-Amz-Date=20261201", "X-Amz-Date=20261201", "deadbeef42"),
        ("accessToken=tok-77&page=2", "page=2", "tok-77"),
        ("api_key=AIzaSyA-12345&q=maps", "q=maps", "AIzaSyA-12345"),
        ("password=hunter2&user=bob", "user=bob", "hunter2"),
    ],
)
def test_secret_query_parameters_are_masked_and_the_rest_kept(client: Client, query, kept, secret):
    client.get(f"/?{query}", REMOTE_ADDR="203.0.113.8")
    (row,) = stored()
    assert secret not in everything_stored()
    assert kept in row.query and "[masked]" in row.query


def test_words_that_only_contain_a_secret_word_are_kept():
    assert mask_query("keyword=x&monkey=y&author=z&passenger=w") == (
        "keyword=x&monkey=y&author=z&passenger=w"
    )


def test_the_referer_is_masked_as_well(client: Client):
    owner = User.objects.create_user("reader", "reader@example.org", "password-123")
    link, token = reset_link(owner)
    client.get(
        "/",
        REMOTE_ADDR="203.0.113.9",
        HTTP_REFERER=f"https://example.org{link}?signature=sig-abc123",
    )
    (row,) = stored()
    assert token not in row.referer and "sig-abc123" not in row.referer
    assert row.referer.startswith("https://example.org/reset/")


@override_settings(SECURITY_LOG_MASKED_PARAMETERS=["voucher"])
def test_the_masked_parameters_are_a_setting(client: Client):
    client.get("/?voucher=FREE-2026&token=kept-now", REMOTE_ADDR="203.0.113.10")
    (row,) = stored()
    assert row.query == "voucher=[masked]&token=kept-now"


def test_a_sites_own_path_pattern_masks_paths_without_a_dash_or_colon(client: Client, settings):
    settings.SECURITY_LOG_MASKED_PATH_PATTERNS = [r"sk_live_[A-Za-z0-9]+"]
    client.get("/keys/sk_live_4eC39HqLyjWDarjtT1zdp7dc/", REMOTE_ADDR="203.0.113.12")
    (row,) = stored()
    assert row.path == "/keys/[masked]/"
    assert "4eC39HqLyjWDarjtT1zdp7dc" not in everything_stored()


def test_secrets_logged_by_an_older_version_are_masked_by_the_migration():
    owner = User.objects.create_user("old", "old@example.org", "password-123")
    link, token = reset_link(owner)
    now = timezone.now()
    RequestLog.objects.create(
        record_id=uuid.uuid4(),
        timestamp=now,
        ip_address="203.0.113.11",
        method="GET",
        path=link,
        query="token=old-secret&x=1",
        status_code=302,
        referer="https://mail.example/?code=1234567",
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    RequestRollup.objects.create(hour=hour, kind=RollupKind.PATH, key=link, count=3)
    SuspiciousIP.objects.create(
        ip_address="203.0.113.11",
        reason="probe",
        window_start=hour,
        window_end=hour,
        requests=1,
        first_seen=now,
        last_seen=now,
        evidence={"requests": [{"path": link, "query": "token=old-secret"}]},
    )
    module = importlib.import_module("security.migrations.0006_mask_logged_secrets")
    module.mask_stored_secrets(apps, None)
    stored_now = everything_stored() + repr(SuspiciousIP.objects.get().evidence)
    for secret in (token, "old-secret", "1234567"):
        assert secret not in stored_now
    assert RequestRollup.objects.get(kind=RollupKind.PATH).count == 3


def test_credentials_in_a_proxy_request_target_are_never_logged():
    from django.test import RequestFactory

    from security.requestlog.records import Record, build_record

    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.9")
    request.META["RAW_URI"] = "http://admin:s3cr3t-pw@www.example.com/x?token=abc"
    record = Record(*build_record(request, 400, 0.0))  # the web process buffers plain tuples
    assert record.path == "http://www.example.com/x"
    assert "s3cr3t" not in repr(record)
