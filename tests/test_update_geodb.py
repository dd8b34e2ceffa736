"""scripts/update_geodb.sh, which runs `manage.py update_geodb`, against a loopback stand-in for
MaxMind's download endpoint."""

import base64
import subprocess

import geoip2.database
import pytest
from pytest_httpserver import HTTPServer

from tests.geodata import city_archive, sha256_line, write_asn_db, write_city_db
from tests.processes import ROOT

ACCOUNT, KEY = "123456", "secret-licence-key-abc"
PATH = "/geoip/databases/GeoLite2-City/download"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT}:{KEY}".encode()).decode()}


@pytest.fixture
def geo_dir(tmp_path):
    folder = tmp_path / "geo"
    write_city_db(folder / "GeoLite2-City.mmdb", {"81.2.69.0/24": ("SE", "Sweden", "Old City")})
    return folder


def run_update(
    server: HTTPServer,
    geo_dir,
    account=ACCOUNT,
    key=KEY,
    editions="GeoLite2-City",
    args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        # What every manage.py command of a site needs (the demo refuses its development key).
        "DJANGO_SECRET_KEY": "insecure-key-for-the-test-suite-only",
        "GEOIP_PATH": str(geo_dir),
        "MAXMIND_DOWNLOAD_URL": server.url_for(PATH),
        "MAXMIND_ACCOUNT_ID": account,
        "MAXMIND_LICENSE_KEY": key,
        "MAXMIND_EDITIONS": editions,
    }
    return subprocess.run(
        ["bash", "scripts/update_geodb.sh", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def city_of(geo_dir, ip: str = "81.2.69.1") -> str:
    with geoip2.database.Reader(str(geo_dir / "GeoLite2-City.mmdb")) as reader:
        return reader.city(ip).city.name


def serve(server: HTTPServer, archive: bytes, checksum: str, path: str = PATH) -> None:
    server.expect_request(path, query_string="suffix=tar.gz", headers=AUTH).respond_with_data(
        archive
    )
    server.expect_request(
        path, query_string="suffix=tar.gz.sha256", headers=AUTH
    ).respond_with_data(checksum)


def new_archive(tmp_path) -> bytes:
    database = write_city_db(tmp_path / "new.mmdb", {"81.2.69.0/24": ("SE", "Sweden", "New City")})
    return city_archive(database.read_bytes())


def test_update_installs_the_new_database(httpserver, geo_dir, tmp_path):
    archive = new_archive(tmp_path)
    serve(httpserver, archive, sha256_line(archive))
    result = run_update(httpserver, geo_dir)
    assert result.returncode == 0, result.stderr
    assert city_of(geo_dir) == "New City"
    assert sorted(p.name for p in geo_dir.iterdir()) == ["GeoLite2-City.mmdb"]
    assert KEY not in result.stdout + result.stderr


def test_bad_checksum_keeps_the_old_database(httpserver, geo_dir, tmp_path):
    archive = new_archive(tmp_path)
    serve(httpserver, archive, sha256_line(b"something else"))
    result = run_update(httpserver, geo_dir)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert city_of(geo_dir) == "Old City"


def test_bad_credentials_keep_the_old_database(httpserver, geo_dir):
    httpserver.expect_request(PATH).respond_with_data("Unauthorized", status=401)
    result = run_update(httpserver, geo_dir, key="wrong-key")
    assert result.returncode == 1
    assert (
        "download refused (HTTP 401): check MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY"
        in result.stderr
    )
    assert "wrong-key" not in result.stdout + result.stderr
    assert city_of(geo_dir) == "Old City"


def test_missing_credentials_are_a_clear_error(httpserver, geo_dir):
    result = run_update(httpserver, geo_dir, account="", key="")
    assert result.returncode == 1
    assert "set MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY" in result.stderr
    assert httpserver.log == []


def test_corrupt_database_keeps_the_old_one_and_leaves_no_debris(httpserver, geo_dir):
    archive = city_archive(b"this is not a MaxMind database" * 100)
    serve(httpserver, archive, sha256_line(archive))
    result = run_update(httpserver, geo_dir)
    assert result.returncode == 1
    assert "does not open" in result.stderr
    assert city_of(geo_dir) == "Old City"
    assert sorted(p.name for p in geo_dir.iterdir()) == ["GeoLite2-City.mmdb"]


def test_truncated_archive_is_refused(httpserver, geo_dir, tmp_path):
    archive = new_archive(tmp_path)[:200]
    serve(httpserver, archive, sha256_line(archive))
    result = run_update(httpserver, geo_dir)
    assert result.returncode == 1
    assert "corrupt" in result.stderr
    assert city_of(geo_dir) == "Old City"


def test_both_editions_by_default_city_and_asn(httpserver, geo_dir, tmp_path):
    city = new_archive(tmp_path)
    serve(httpserver, city, sha256_line(city))
    asn_db = write_asn_db(tmp_path / "asn.mmdb", {"81.2.69.0/24": (64500, "Example Net")})
    asn = city_archive(asn_db.read_bytes(), "GeoLite2-ASN_20261124", "GeoLite2-ASN.mmdb")
    serve(httpserver, asn, sha256_line(asn), PATH.replace("City", "ASN"))
    result = run_update(httpserver, geo_dir, editions="")  # the default: both
    assert result.returncode == 0, result.stderr
    with geoip2.database.Reader(str(geo_dir / "GeoLite2-ASN.mmdb")) as reader:
        assert reader.asn("81.2.69.1").autonomous_system_number == 64500
    assert city_of(geo_dir) == "New City"


def test_a_city_archive_served_as_asn_is_refused(httpserver, geo_dir, tmp_path):
    city = new_archive(tmp_path)
    wrong = city_archive(
        (tmp_path / "new.mmdb").read_bytes(), "GeoLite2-ASN_20261124", "GeoLite2-ASN.mmdb"
    )
    serve(httpserver, wrong, sha256_line(wrong), PATH.replace("City", "ASN"))
    result = run_update(httpserver, geo_dir, editions="GeoLite2-ASN")
    assert result.returncode == 1
    assert "(expected ASN)" in result.stderr
    assert not (geo_dir / "GeoLite2-ASN.mmdb").exists()
    assert city  # the City database was not asked for


def test_the_edition_option_overrides_the_environment(httpserver, geo_dir, tmp_path):
    city = new_archive(tmp_path)
    serve(httpserver, city, sha256_line(city))
    result = run_update(
        httpserver, geo_dir, editions="GeoLite2-ASN", args=("--edition", "GeoLite2-City")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"update_geodb: installed {geo_dir / 'GeoLite2-City.mmdb'}"
    assert city_of(geo_dir) == "New City"
    assert not (geo_dir / "GeoLite2-ASN.mmdb").exists()
