import json
import os
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from security import geo, tasks
from security.models import RequestLog
from security.requestlog.records import Record
from tests.conftest import publish_records
from tests.geodata import write_city_db

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC_IP = "8.8.4.4"
OTHER_PUBLIC_IP = "1.0.0.1"


@pytest.fixture
def city_db(tmp_path, settings):
    write_city_db(tmp_path / "GeoLite2-City.mmdb")
    settings.GEOIP_PATH = str(tmp_path)
    return tmp_path / "GeoLite2-City.mmdb"


@pytest.fixture
def api(httpserver: HTTPServer, settings):
    settings.SECURITY_GEO_API_URL = (
        httpserver.url_for("/json/{ip}").replace("%7B", "{").replace("%7D", "}")
    )
    settings.SECURITY_GEO_API_BATCH_URL = httpserver.url_for("/batch")
    settings.SECURITY_GEO_API_TIMEOUT = 0.5
    return httpserver


def cache_ttl(key: str) -> int:
    return redis.Redis.from_url(settings.REDIS_URL).ttl(cache.make_key(key))


def ip_api_answer(ip: str) -> dict:
    return {
        "status": "success",
        "country": "Australia",
        "countryCode": "AU",
        "city": "Sydney",
        "query": ip,
    }


def test_local_database_answers_first(city_db, api):
    result = geo.lookup("81.2.69.142")
    assert (result.country_code, result.country, result.city, result.source) == (
        "SE",
        "Sweden",
        "Linköping",
        "local",
    )
    assert geo.lookup("2a02:ff00::1").city == "Berlin"
    assert api.log == []


def test_local_results_are_not_cached(city_db):
    geo.lookup("81.2.69.142")
    assert cache.get("geo:81.2.69.142") is None


def test_replaced_database_file_is_reopened(city_db, monkeypatch):
    assert geo.lookup("81.2.69.142").city == "Linköping"
    replacement = city_db.with_name("new.mmdb")
    write_city_db(replacement, {"81.2.69.0/24": ("GB", "United Kingdom", "London")})
    os.replace(replacement, city_db)
    monkeypatch.setattr(geo.LocalDatabase, "STAT_INTERVAL", 0.0)
    assert geo.lookup("81.2.69.142").city == "London"


def test_api_fallback_then_cache_with_one_api_call(city_db, api):
    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_json(ip_api_answer(PUBLIC_IP))
    first = geo.lookup(PUBLIC_IP)
    assert (first.country_code, first.city, first.source) == ("AU", "Sydney", "api")
    second = geo.lookup(PUBLIC_IP)
    assert (second.country_code, second.city, second.source) == ("AU", "Sydney", "cache")
    assert len(api.log) == 1
    assert 86_000 < cache_ttl("geo:" + PUBLIC_IP) <= 86_400


def test_batch_endpoint_is_used_for_many_addresses(api):
    def batch(request: Request) -> Response:
        ips = json.loads(request.data)
        return Response(
            json.dumps([ip_api_answer(ip) for ip in ips]), content_type="application/json"
        )

    api.expect_request("/batch", method="POST").respond_with_handler(batch)
    ips = [f"1.1.{i}.1" for i in range(150)]
    results = geo.lookup_many(ips)
    assert {r.source for r in results.values()} == {"api"}
    assert len(api.log) == 2  # 100 + 50


def test_private_and_reserved_addresses_never_leave_the_machine(api):
    for ip in [
        "10.0.0.1",
        "127.0.0.1",
        "::1",
        "192.168.1.1",
        "169.254.1.1",
        "fd00::1",
        "100.64.0.1",
    ]:
        assert geo.lookup(ip).source == "none"
    assert api.log == []


def test_api_fail_answer_is_unknown_and_cached(api):
    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_json(
        {"status": "fail", "message": "reserved range", "query": PUBLIC_IP}
    )
    assert geo.lookup(PUBLIC_IP).known is False
    assert geo.lookup(PUBLIC_IP).source == "cache"
    assert len(api.log) == 1


@pytest.mark.parametrize(
    "respond",
    [
        lambda r: r.respond_with_data("oops", status=500),
        lambda r: r.respond_with_data("<html>not json</html>"),
        lambda r: r.respond_with_json(["not", "an", "object"]),
        lambda r: r.respond_with_json({"unexpected": True}),
    ],
)
def test_errors_and_garbage_give_unknown_without_crashing(api, respond):
    respond(api.expect_request(f"/json/{PUBLIC_IP}"))
    result = geo.lookup(PUBLIC_IP)
    assert (result.known, result.source) == (False, "none")
    # Unknown-by-failure is retried sooner than a real answer expires.
    assert 0 < cache_ttl("geo:" + PUBLIC_IP) <= 300


def test_hanging_api_is_cut_off_by_the_timeout(api):
    answered = threading.Event()

    def hang(request: Request) -> Response:
        time.sleep(1.5)
        answered.set()
        return Response("{}")

    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_handler(hang)
    started = time.monotonic()
    result = geo.lookup(PUBLIC_IP)
    assert time.monotonic() - started < 1.2
    assert result.source == "none"
    answered.wait(5)  # the test server answers one request at a time; let it finish


def test_breaker_stops_calling_a_failing_api(api, settings):
    settings.SECURITY_GEO_BREAKER_FAILURES = 3
    api.expect_request("/batch").respond_with_data("down", status=503)
    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_data("down", status=503)
    for i in range(6):
        geo.lookup(f"9.9.9.{i}")
    assert len(api.log) == 3


def test_rate_limit_headers_pause_the_api(api):
    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_json(
        ip_api_answer(PUBLIC_IP), headers={"X-Rl": "0", "X-Ttl": "42"}
    )
    api.expect_request(f"/json/{OTHER_PUBLIC_IP}").respond_with_json(ip_api_answer(OTHER_PUBLIC_IP))
    assert geo.lookup(PUBLIC_IP).source == "api"
    assert geo.lookup(OTHER_PUBLIC_IP).source == "none"
    assert len(api.log) == 1


def test_api_can_be_switched_off(settings, httpserver):
    settings.SECURITY_GEO_API_URL = ""
    assert geo.lookup(PUBLIC_IP).source == "none"
    assert httpserver.log == []


def test_drain_enriches_rows_once_per_distinct_ip(city_db, api):
    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_json(ip_api_answer(PUBLIC_IP))
    now = timezone.now().timestamp()
    batch = [
        Record(uuid.uuid4().hex, now, ip, "GET", "/", 200)
        for ip in ["81.2.69.142", "81.2.69.142", PUBLIC_IP, PUBLIC_IP, "127.0.0.1"]
    ]
    publish_records(batch)
    tasks.drain_logs()
    rows = {row.ip_address: row for row in RequestLog.objects.all()}
    assert (rows["81.2.69.142"].country, rows["81.2.69.142"].city) == ("Sweden", "Linköping")
    assert (rows[PUBLIC_IP].country_code, rows[PUBLIC_IP].geo_source) == ("AU", "api")
    assert rows["127.0.0.1"].country == ""
    assert RequestLog.objects.filter(city="Linköping").count() == 2
    assert len(api.log) == 1


def test_geolocate_command_prints_json_lines(city_db, api, capsys):
    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_json(ip_api_answer(PUBLIC_IP))
    call_command("geolocate", "81.2.69.142", PUBLIC_IP, PUBLIC_IP, "10.1.1.1")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {
        "ip": "81.2.69.142",
        "country_code": "SE",
        "country": "Sweden",
        "city": "Linköping",
        "source": "local",
    }
    assert lines[1]["source"] == "api"
    assert lines[2]["source"] in {"api", "cache"}
    assert lines[3] == {
        "ip": "10.1.1.1",
        "country_code": "",
        "country": "",
        "city": "",
        "source": "none",
    }


def test_geolocate_refuses_invalid_addresses(capsys):
    with pytest.raises(CommandError, match="'8.8.8.888' is not an IP address"):
        call_command("geolocate", "1.1.1.1", "8.8.8.888")
    assert capsys.readouterr().out == ""


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
)
def test_cache_down_still_answers(api):
    api.expect_request(f"/json/{PUBLIC_IP}").respond_with_json(ip_api_answer(PUBLIC_IP))
    assert geo.lookup(PUBLIC_IP).source == "api"
