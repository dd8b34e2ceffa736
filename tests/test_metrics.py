"""/security/metrics, read by prometheus_client's own parser, and /security/health."""

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from security import checks, geo, health, tasks
from security.blocking.changes import block
from security.requestlog.buffer import log_buffer
from tests.conftest import operator

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "scrape-token-for-tests"


def scrape(client: Client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/security/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@override_settings(SECURITY_METRICS_TOKEN=TOKEN)
def test_metrics_are_refused_without_a_token_a_network_or_the_permission(client: Client):
    assert client.get("/security/metrics").status_code == 403
    wrong = client.get("/security/metrics", HTTP_AUTHORIZATION="Bearer not-it")
    assert wrong.status_code == 403
    client.force_login(operator("viewer", "security.view_requestlog"))
    assert client.get("/security/metrics").status_code == 200


@override_settings(SECURITY_METRICS_NETWORKS=["10.9.0.0/16"])
def test_an_allowed_network_scrapes_without_a_token(client: Client):
    assert client.get("/security/metrics", REMOTE_ADDR="10.9.4.4").status_code == 200
    assert client.get("/security/metrics", REMOTE_ADDR="10.8.4.4").status_code == 403


@override_settings(SECURITY_METRICS_TOKEN=TOKEN)
def test_metrics_count_outcomes_the_stream_the_drain_and_the_blocks(client: Client):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    before = scrape(client, **auth)
    served = ("ip_tracking_requests_total", (("outcome", "served"),))
    blocked = ("ip_tracking_requests_total", (("outcome", "blocked"),))
    block(["198.51.100.66"], reason="test")
    for _ in range(3):
        client.get("/", REMOTE_ADDR="198.51.100.65")
    client.get("/", REMOTE_ADDR="198.51.100.66")
    log_buffer.flush()
    waiting = scrape(client, **auth)
    assert waiting[served] - before.get(served, 0) >= 3  # the scrapes are requests too
    assert waiting[blocked] - before.get(blocked, 0) == 1
    assert waiting[("ip_tracking_log_stream_entries", ())] >= 1
    assert waiting[("ip_tracking_redis_up", ())] == 1
    assert waiting[("ip_tracking_active_blocks", (("source", "manual"),))] == 1

    tasks.drain_logs()
    drained = scrape(client, **auth)
    assert drained[("ip_tracking_drained_records_total", ())] >= 4
    assert drained[("ip_tracking_log_consumer_lag", (("group", "drain"),))] == 0
    assert drained[("ip_tracking_geolocated_records_total", (("source", "none"),))] >= 4


@override_settings(SECURITY_REDIS_URL="redis://127.0.0.1:1/0", SECURITY_METRICS_TOKEN=TOKEN)
def test_metrics_and_health_say_redis_is_down_without_failing(client: Client):
    samples = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert samples[("ip_tracking_redis_up", ())] == 0
    assert samples[("ip_tracking_database_up", ())] == 1
    health = client.get("/security/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "degraded",
        "redis": "down",
        "database": "up",
        "blocklist": "loaded",
    }


def test_health_reports_ok_and_nothing_else(client: Client):
    health = client.get("/security/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "redis": "up", "database": "up", "blocklist": "loaded"}


def test_health_is_unavailable_while_the_blocklist_was_never_loaded():
    status, report = health.state()  # a fresh process: no request has loaded it yet
    assert status == 503
    assert report["status"] == "unavailable"
    assert report["blocklist"] == "not loaded"


@override_settings(SECURITY_METRICS_TOKEN=TOKEN)
def test_flags_and_the_geolocation_breaker_are_counted(client: Client):
    client.get("/.env", REMOTE_ADDR="198.51.100.90")
    log_buffer.flush()
    tasks.drain_logs()
    geo.geo_api._pause(60, "a test")
    samples = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert samples[("ip_tracking_flags_total", (("rule", "probe"),))] == 1
    assert samples[("ip_tracking_geo_api_breaker_open", ())] == 1


@override_settings(SECURITY_METRICS_NETWORKS=["10.9.0.0/16", "not-a-network"])
def test_a_bad_scraper_network_refuses_scrapes_and_fails_the_check(client: Client):
    assert client.get("/security/metrics", REMOTE_ADDR="10.9.4.4").status_code == 403
    assert [message.id for message in checks.check_metrics(None)] == ["ip_tracking.E007"]
