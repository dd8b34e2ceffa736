"""Download, verify and atomically install MaxMind's GeoLite2 City and ASN databases.

Run by `manage.py update_geodb` (and so by scripts/update_geodb.sh). Each old database stays in
place unless the new one downloaded completely, matched its published SHA-256 and opened as the
right kind. MAXMIND_EDITIONS (default "GeoLite2-City GeoLite2-ASN") chooses which; the ASN
database is needed only for SECURITY_BLOCK_ASNS.
"""

import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import maxminddb
import requests

DEFAULT_URL = "https://download.maxmind.com/geoip/databases/GeoLite2-City/download"
DEFAULT_EDITIONS = "GeoLite2-City GeoLite2-ASN"
KINDS = {"GeoLite2-City": "City", "GeoLite2-ASN": "ASN"}
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024


class UpdateError(Exception):
    pass


def fetch(url: str, auth: tuple[str, str]) -> bytes:
    try:
        response = requests.get(url, auth=auth, timeout=(10, 120), stream=True)
    except requests.RequestException as error:
        raise UpdateError(f"download failed: {type(error).__name__}") from error
    if response.status_code in (401, 403):
        raise UpdateError(
            f"download refused (HTTP {response.status_code}): check MAXMIND_ACCOUNT_ID and "
            "MAXMIND_LICENSE_KEY"
        )
    if response.status_code != 200:
        raise UpdateError(f"download failed: HTTP {response.status_code} from {url.split('?')[0]}")
    body = io.BytesIO()
    for chunk in response.iter_content(1 << 20):
        body.write(chunk)
        if body.tell() > MAX_ARCHIVE_BYTES:
            raise UpdateError("download is larger than any GeoLite2 City archive; refusing it")
    return body.getvalue()


def expected_sha256(checksum_file: bytes) -> str:
    words = checksum_file.decode("ascii", "replace").split()
    if not words or len(words[0]) != 64:
        raise UpdateError("the published checksum is not a SHA-256 line")
    return words[0].lower()


def extract_database(archive: bytes, filename: str) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile() and Path(member.name).name == filename:
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise UpdateError(f"the archive is corrupt: {error}") from error
    raise UpdateError(f"the archive holds no {filename}")


def check_database(path: Path, expected: str = "City") -> str:
    try:
        with maxminddb.open_database(str(path)) as reader:
            kind = reader.metadata().database_type
            reader.get("1.1.1.1")
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as error:
        raise UpdateError(f"the new database does not open: {error}") from error
    if expected not in kind:
        raise UpdateError(f"the new database is a {kind} database (expected {expected})")
    return kind


def edition_url(base_url: str, edition: str) -> str:
    # MaxMind's URLs differ only by the edition name; an override names the City one.
    return base_url.replace("GeoLite2-City", edition)


def update(
    base_url: str,
    account_id: str,
    license_key: str,
    destination: Path,
    edition: str = "GeoLite2-City",
) -> Path:
    if not account_id or not license_key:
        raise UpdateError("set MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY (free GeoLite2 account)")
    auth = (account_id, license_key)
    if edition not in KINDS:
        raise UpdateError(f"unknown edition {edition!r} (known: {', '.join(KINDS)})")
    url = edition_url(base_url, edition)
    filename = f"{edition}.mmdb"
    archive = fetch(f"{url}?suffix=tar.gz", auth)
    published = expected_sha256(fetch(f"{url}?suffix=tar.gz.sha256", auth))
    if hashlib.sha256(archive).hexdigest() != published:
        raise UpdateError("checksum mismatch: the download is incomplete or altered")
    destination.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{edition}.", dir=destination)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(extract_database(archive, filename))
        check_database(Path(temporary), KINDS[edition])
        target = destination / filename
        os.replace(temporary, target)  # atomic: readers see the old file or the new one
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def update_from_environment(destination: Path, editions: list[str] | None = None) -> Iterator[Path]:
    """Each edition in turn (MAXMIND_EDITIONS unless given) with the MAXMIND_* credentials,
    yielding what it installed; the first failure raises UpdateError naming its edition."""
    for edition in editions or (os.environ.get("MAXMIND_EDITIONS") or DEFAULT_EDITIONS).split():
        try:
            yield update(
                os.environ.get("MAXMIND_DOWNLOAD_URL") or DEFAULT_URL,
                os.environ.get("MAXMIND_ACCOUNT_ID", ""),
                os.environ.get("MAXMIND_LICENSE_KEY", ""),
                destination,
                edition,
            )
        except UpdateError as error:
            raise UpdateError(f"{edition}: {error}") from error
