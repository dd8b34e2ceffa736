"""Small GeoLite2-City-shaped databases, built by the tests themselves."""

import hashlib
import io
import tarfile
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

CITIES = {
    "81.2.69.0/24": ("SE", "Sweden", "Linköping"),
    "2a02:ff00::/32": ("DE", "Germany", "Berlin"),
    "89.160.20.0/24": ("SE", "Sweden", ""),
}


def write_city_db(path: Path, cities: dict[str, tuple[str, str, str]] = CITIES) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en"],
        description="test database",
    )
    for network, (code, country, city) in cities.items():
        record: dict = {"country": {"iso_code": code, "names": {"en": country}}}
        if city:
            record["city"] = {"names": {"en": city}}
        writer.insert_network(IPSet([network]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def city_archive(
    database: bytes, folder: str = "GeoLite2-City_20261124", name: str = "GeoLite2-City.mmdb"
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{folder}/{name}")
        info.size = len(database)
        tar.addfile(info, io.BytesIO(database))
    return buffer.getvalue()


def sha256_line(data: bytes, name: str = "GeoLite2-City_20261124.tar.gz") -> str:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n"


def write_asn_db(path: Path, networks: dict[str, tuple[int, str]]) -> Path:
    """A GeoLite2-ASN-shaped database: network -> (AS number, organisation)."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-ASN",
        languages=["en"],
        description="test database",
    )
    for network, (number, organisation) in networks.items():
        writer.insert_network(
            IPSet([network]),
            {"autonomous_system_number": number, "autonomous_system_organization": organisation},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path
