"""A log record: built from a request on the hot path, turned into a RequestLog row off it.

Records are named tuples packed with MessagePack: the flush thread shares the GIL with the
requests, and packing a batch of tuples costs a seventh of JSON-encoding the same records as
dicts (0.3 against 2.4 µs a record).
"""

import datetime
import itertools
import os
import time
import uuid
from typing import Any, NamedTuple

import msgpack
from django.http import HttpRequest

from ..client_ip import get_client_ip
from ..models import RequestLog
from . import masking


class Record(NamedTuple):
    id: str
    ts: float
    ip: str | None
    method: str
    path: str
    status: int
    duration_ms: int = 0
    user_id: Any = None
    username: str = ""
    user_agent: str = ""
    referer: str = ""
    blocked: bool = False
    query: str = ""
    # The user agent, query and referer whole (up to WHOLE_LIMIT, masked as stored), only when
    # storage cuts one of them: detection reads what the request really carried.
    whole: list[str] | None = None


FIELDS = len(Record._fields)
# Entries written before the query string (then the whole values) were logged have fewer fields.
ACCEPTED_FIELD_COUNTS = (FIELDS - 2, FIELDS - 1, FIELDS)

PATH_LIMIT: int = RequestLog._meta.get_field("path").max_length or 0
QUERY_LIMIT: int = RequestLog._meta.get_field("query").max_length or 0
HEADER_LIMIT = 512
WHOLE_LIMIT = 8192


def clean_text(value: str, limit: int) -> str:
    """Make any header or path storable: bounded, valid UTF-8, no NUL (PostgreSQL refuses it)."""
    value = value[:limit]
    if value.isascii() and "\x00" not in value:
        return value
    if "\x00" in value:
        value = value.replace("\x00", "%00")[:limit]
    return value.encode("utf-8", "replace").decode("utf-8")


def loaded_user(request: HttpRequest) -> Any:
    # Only a user that the request already loaded: logging must never cost a session or
    # user query. AuthenticationMiddleware keeps the resolved user in _cached_user (WSGI,
    # request.user) or _acached_user (ASGI, await request.auser()).
    user = request.__dict__.get("_cached_user") or request.__dict__.get("_acached_user")
    if user is not None and user.is_authenticated:
        return user
    return None


class RecordIds:
    """Unique ids without a syscall per request: a random 64-bit prefix per process (new after
    a fork) and a counter."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # The prefix's 16 hex digits once, not a 128-bit integer formatted per request.
        self._prefix = f"{uuid.uuid4().int >> 64:016x}"
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


record_ids = RecordIds()


def plain_pk(pk: Any) -> int | str:
    # A custom user model may have a UUID (or other) primary key; MessagePack takes only plain
    # types, and the foreign key accepts the string form back.
    return pk if isinstance(pk, int | str) else str(pk)


def _whole(user_agent: str, query: str, referer: str) -> list[str] | None:
    if (
        len(user_agent) <= HEADER_LIMIT
        and len(query) <= QUERY_LIMIT
        and len(referer) <= HEADER_LIMIT
    ):
        return None
    return [clean_text(value, WHOLE_LIMIT) for value in (user_agent, query, referer)]


def requested_path(request: HttpRequest) -> str:
    """The path, or the whole target of a request sent as to a proxy (`GET http://host/ HTTP/1.1`,
    which gunicorn passes on as RAW_URI while the path is only `/`): what the client asked for."""
    raw = request.META.get("RAW_URI")
    if raw and raw[0] != "/" and raw[:8].lower().startswith(("http://", "https://")):
        scheme, _, rest = str(raw).partition("?")[0].partition("://")
        authority, slash, path = rest.partition("/")
        # `http://user:password@host/`: the credentials are the client's secret, never logged.
        return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return request.path


def build_record(request: HttpRequest, status_code: int, started: float) -> Record:
    user = loaded_user(request)
    meta = request.META
    user_agent = str(meta.get("HTTP_USER_AGENT", ""))
    referer = masking.mask_url(str(meta.get("HTTP_REFERER", "")))
    query = masking.mask_query(str(meta.get("QUERY_STRING", "")))
    raw_target = meta.get("RAW_URI")
    path = request.path if not raw_target or raw_target[0] == "/" else requested_path(request)
    return Record(
        record_ids.next(),
        time.time(),
        get_client_ip(request),
        clean_text(str(request.method or ""), 16),
        clean_text(masking.mask_path(request, path), PATH_LIMIT),
        int(status_code),
        max(0, int((time.monotonic() - started) * 1000)),
        plain_pk(user.pk) if user is not None else None,
        clean_text(user.get_username(), 150) if user is not None else "",
        clean_text(user_agent, HEADER_LIMIT),
        clean_text(referer, HEADER_LIMIT),
        bool(request.__dict__.get("security_blocked", False)),
        clean_text(query, QUERY_LIMIT),
        _whole(user_agent, query, referer),
    )


def encode_batch(batch: list[Record]) -> bytes:
    return msgpack.packb(batch)


def _valid_whole(whole: Any) -> bool:
    return whole is None or (
        isinstance(whole, list) and len(whole) == 3 and all(isinstance(v, str) for v in whole)
    )


# A stream entry as our Redis clients return it (decode_responses off: ids and fields are
# bytes); redis-py's annotations cover both settings, so readers cast to this.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def decode_batch(raw: bytes) -> list[Record]:
    """Raises ValueError for anything that is not a batch of records."""
    try:
        batch = msgpack.unpackb(raw)
    except Exception as error:  # msgpack raises several unrelated types for garbage
        raise ValueError(f"not MessagePack: {error}") from error
    if not isinstance(batch, list):
        raise ValueError("not a batch of log records")
    decoded = []
    for values in batch:
        if not (
            isinstance(values, list)
            and len(values) in ACCEPTED_FIELD_COUNTS
            and isinstance(values[0], str)
            and isinstance(values[1], int | float)
            and (len(values) < FIELDS or _valid_whole(values[-1]))
        ):
            raise ValueError("not a log record")
        uuid.UUID(values[0])  # a bad id would fail the whole batch in the database
        decoded.append(Record(*values))
    return decoded


def to_model(record: Record, geo: dict[str, str] | None = None) -> RequestLog:
    return RequestLog(**to_row(record, geo)._asdict())


class StoredRow(NamedTuple):
    """A RequestLog row as the drain writes it: the model's field names (what rollups and
    streaming detection read), without the cost of a model instance per record."""

    record_id: uuid.UUID
    timestamp: datetime.datetime
    ip_address: str | None
    method: str
    path: str
    query: str
    status_code: int
    duration_ms: int
    user_id: Any
    username: str
    user_agent: str
    referer: str
    blocked: bool
    country_code: str
    country: str
    city: str
    geo_source: str


def whole_rows(batch: list[Record], rows: list[StoredRow]) -> list[StoredRow]:
    """The stored rows with the values storage cut made whole again, for what reads them
    after storing (detection)."""
    whole = {uuid.UUID(record.id): record.whole for record in batch if record.whole}
    if not whole:
        return rows
    return [
        row._replace(user_agent=values[0], query=values[1], referer=values[2])
        if (values := whole.get(row.record_id))
        else row
        for row in rows
    ]


# Column names in StoredRow order (user_id is the foreign key's column).
STORED_COLUMNS = StoredRow._fields


def to_row(record: Record, geo: dict[str, str] | None = None) -> StoredRow:
    geo = geo or {}
    return StoredRow(
        uuid.UUID(record.id),
        datetime.datetime.fromtimestamp(float(record.ts), tz=datetime.UTC),
        record.ip,
        record.method,
        record.path,
        record.query,
        int(record.status),
        int(record.duration_ms),
        record.user_id,
        record.username,
        record.user_agent,
        record.referer,
        bool(record.blocked),
        geo.get("country_code", ""),
        geo.get("country", ""),
        geo.get("city", ""),
        geo.get("source", ""),
    )
