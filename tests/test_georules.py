"""Allow or deny by country and by network (ASN), from small databases built here."""

import pytest
from django.core.management import call_command
from django.test import Client

from security.checks import check_geo_rule_databases
from tests.geodata import write_asn_db, write_city_db

pytestmark = pytest.mark.django_db(transaction=True)

SWEDISH, GERMAN, UNPLACED = "81.2.69.10", "2a02:ff00::7", "198.18.0.5"
CLOUD = "89.160.20.5"


@pytest.fixture
def databases(tmp_path, settings):
    write_city_db(tmp_path / "GeoLite2-City.mmdb")
    write_asn_db(tmp_path / "GeoLite2-ASN.mmdb", {"89.160.20.0/24": (64500, "Example Cloud")})
    settings.GEOIP_PATH = str(tmp_path)
    return tmp_path


def status(client: Client, ip: str) -> int:
    return client.get("/", REMOTE_ADDR=ip).status_code


def test_denied_country_gets_403_others_get_in(databases, settings, client: Client):
    settings.SECURITY_BLOCK_COUNTRIES = ["de"]
    assert status(client, GERMAN) == 403
    assert status(client, SWEDISH) == 200
    assert status(client, UNPLACED) == 200  # no database places it: no country rule applies


def test_allow_only_some_countries(databases, settings, client: Client):
    settings.SECURITY_ALLOW_COUNTRIES = ["SE"]
    assert status(client, SWEDISH) == 200
    assert status(client, GERMAN) == 403


def test_denied_network_by_asn(databases, settings, client: Client):
    settings.SECURITY_BLOCK_ASNS = [64500]
    assert status(client, CLOUD) == 403
    assert status(client, SWEDISH) == 200


def test_the_allowlist_wins_over_country_rules(databases, settings, client: Client):
    settings.SECURITY_BLOCK_COUNTRIES = ["DE"]
    call_command("allow_ip", "2a02:ff00::/32")
    assert status(client, GERMAN) == 200


def test_no_rule_no_lookup(databases, client: Client, monkeypatch):
    from security import geo

    def must_not_run(ip):
        raise AssertionError("a country lookup without any rule")

    monkeypatch.setattr(geo, "country_code_of", must_not_run)
    assert status(client, GERMAN) == 200


def test_missing_databases_are_named_by_checks(tmp_path, settings):
    settings.GEOIP_PATH = str(tmp_path)
    settings.SECURITY_BLOCK_COUNTRIES = ["DE"]
    settings.SECURITY_BLOCK_ASNS = [64500]
    assert [m.id for m in check_geo_rule_databases(None)] == [
        "ip_tracking.W004",
        "ip_tracking.W005",
    ]
    write_city_db(tmp_path / "GeoLite2-City.mmdb")
    assert [m.id for m in check_geo_rule_databases(None)] == ["ip_tracking.W005"]
