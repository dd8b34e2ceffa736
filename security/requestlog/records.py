"""A log record: built from a request on the hot path, turned into a RequestLog row off it.

Records are named tuples packed with MessagePack: the flush thread shares the GIL with the
requests, and packing a batch of tuples costs a seventh of JSON-encoding the same records as
dicts (0.3 against 2.4 µs a record).
"""

import datetime
import time
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgpack
from django.http import HttpRequest

from ..client_ip import get_client_ip
from ..models import RequestLog
from . import masking
from .record_ids import record_ids, stored_form, valid_prefix, whole_id


class Record(NamedTuple):
    # The 32 hex digits of a UUID; on the web process that built it, its counter (RecordIds).
    id: str | int
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
# Text no longer than this is within every field's limit (the method's apart).
SMALLEST_LIMIT = min(PATH_LIMIT, QUERY_LIMIT, HEADER_LIMIT)
WHOLE_LIMIT = 8192


def clean_text(value: str, limit: int) -> str:
    """Make any header or path storable: bounded, valid UTF-8, no NUL (PostgreSQL refuses it)."""
    value = value[:limit]
    if value.isascii() and "\x00" not in value:
        return value
    if "\x00" in value:
        value = value.replace("\x00", "%00")[:limit]
    return value.encode("utf-8", "replace").decode("utf-8")


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


# What the web process buffers: a Record's values in its field order, as a plain tuple.
# NamedTuple's generated __new__ is a Python function of 14 arguments (4,000 instructions a
# request), and MessagePack packs an exact tuple faster than a subclass; encoded, the two are
# the same bytes, and decode_batch gives Records back.
RecordValues = tuple[Any, ...]
BLOCKED_INDEX = Record._fields.index("blocked")
STATUS_INDEX = Record._fields.index("status")


def build_record(request: HttpRequest, status_code: int, started: float) -> RecordValues:
    """Runs on every request, so the common case takes no call it can avoid (a Python call
    costs about 1,000 instructions here): masking only where a secret could be, cleaning only
    when some text is long, not ASCII or holds a NUL."""
    meta = request.META
    state = request.__dict__
    user_agent = str(meta.get("HTTP_USER_AGENT", ""))
    referer = str(meta.get("HTTP_REFERER", ""))
    query = str(meta.get("QUERY_STRING", ""))
    method = str(request.method or "")
    raw_target = meta.get("RAW_URI")
    path = request.path if not raw_target or raw_target[0] == "/" else requested_path(request)
    # The masking functions' own first tests, asked here (see masking.py).
    if referer and referer not in masking.unchanged_urls:
        referer = masking.mask_url(referer)
    if query:
        query = masking.mask_query(query)
    match = state.get("resolver_match")
    if (match is not None and match.kwargs) or masking.path_may_hold_secret(path):
        path = masking.mask_path(request, path)
    whole = None
    text = method + path + user_agent + referer + query
    if not (
        text.isascii()
        and "\x00" not in text
        and len(method) <= 16
        and (
            len(text) <= SMALLEST_LIMIT
            or (
                len(path) <= PATH_LIMIT
                and len(user_agent) <= HEADER_LIMIT
                and len(referer) <= HEADER_LIMIT
                and len(query) <= QUERY_LIMIT
            )
        )
    ):
        whole = _whole(user_agent, query, referer)
        method = clean_text(method, 16)
        path = clean_text(path, PATH_LIMIT)
        user_agent = clean_text(user_agent, HEADER_LIMIT)
        referer = clean_text(referer, HEADER_LIMIT)
        query = clean_text(query, QUERY_LIMIT)
    # Only a user that the request already loaded: logging must never cost a session or
    # user query. AuthenticationMiddleware keeps the resolved user in _cached_user (WSGI,
    # request.user) or _acached_user (ASGI, await request.auser()).
    user = state.get("_cached_user") or state.get("_acached_user")
    if user is not None and user.is_authenticated:
        user_id, username = plain_pk(user.pk), clean_text(user.get_username(), 150)
    else:
        user_id, username = None, ""
    return (
        next(record_ids.counter),
        time.time(),
        state["client_ip"] if "client_ip" in state else get_client_ip(request),
        method,
        path,
        int(status_code),
        duration_ms if (duration_ms := int((time.monotonic() - started) * 1000)) > 0 else 0,
        user_id,
        username,
        user_agent,
        referer,
        "security_blocked" in state,  # set (to True) only by BlockedIPMiddleware
        query,
        whole,
    )


# A batch is a map: the prefix of its records' ids and the records. Batches written before
# (a list of records, each with its whole id) are read as well.
BATCH_PREFIX, BATCH_RECORDS = "p", "r"


def encode_batch(batch: Sequence[RecordValues]) -> bytes:
    return msgpack.packb({BATCH_PREFIX: record_ids.prefix, BATCH_RECORDS: batch})


def _valid_whole(whole: Any) -> bool:
    return whole is None or (
        isinstance(whole, list) and len(whole) == 3 and all(isinstance(v, str) for v in whole)
    )


# A stream entry as our Redis clients return it (decode_responses off: ids and fields are
# bytes); redis-py's annotations cover both settings, so readers cast to this.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def _records_and_prefix(raw: bytes) -> tuple[list, str | None]:
    try:
        batch = msgpack.unpackb(raw)
    except Exception as error:  # msgpack raises several unrelated types for garbage
        raise ValueError(f"not MessagePack: {error}") from error
    if isinstance(batch, list):
        return batch, None
    if not isinstance(batch, dict) or not isinstance(batch.get(BATCH_RECORDS), list):
        raise ValueError("not a batch of log records")
    prefix = batch.get(BATCH_PREFIX)
    if not valid_prefix(prefix):
        raise ValueError("a batch without a valid id prefix")
    return batch[BATCH_RECORDS], prefix


def decode_batch(raw: bytes) -> list[Record]:
    """Raises ValueError for anything that is not a batch of records."""
    batch, prefix = _records_and_prefix(raw)
    decoded = []
    for values in batch:
        if not (
            isinstance(values, list)
            and len(values) in ACCEPTED_FIELD_COUNTS
            and isinstance(values[1], int | float)
            and (len(values) < FIELDS or _valid_whole(values[-1]))
        ):
            raise ValueError("not a log record")
        values[0] = whole_id(values[0], prefix)
        decoded.append(Record(*values))
    return decoded


# What geolocation adds to a row: country code, country, city, and which source answered.
Place = tuple[str, str, str, str]
NO_PLACE: Place = ("", "", "", "")


def to_model(record: Record, place: Place | None = None) -> RequestLog:
    fields = to_row(record, place)._asdict()
    return RequestLog(**{**fields, "record_id": uuid.UUID(fields["record_id"])})


class StoredRow(NamedTuple):
    """A RequestLog row as the drain writes it: the model's field names (what rollups and
    streaming detection read), without the cost of a model instance per record."""

    record_id: str  # record_ids.stored_form()
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
    whole = {stored_form(record.id): record.whole for record in batch if record.whole}
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


def to_row(record: Record, place: Place | None = None) -> StoredRow:
    return StoredRow(
        stored_form(record.id),
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
        *(place or NO_PLACE),
    )
