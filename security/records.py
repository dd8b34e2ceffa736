"""A log record: built from a request on the hot path, turned into a RequestLog row off it.

Records are plain dicts with short keys so a batch of them is cheap to serialise into Redis.
"""

import datetime
import itertools
import json
import os
import time
import uuid
from typing import Any

from django.http import HttpRequest

from .client_ip import get_client_ip
from .models import RequestLog

Record = dict[str, Any]

PATH_LIMIT = RequestLog._meta.get_field("path").max_length


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
    # user query. AuthenticationMiddleware keeps the resolved user in _cached_user.
    user = request.__dict__.get("_cached_user")
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
        self._prefix = uuid.uuid4().int >> 64 << 64
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix | next(self._counter):032x}"


record_ids = RecordIds()


def build_record(request: HttpRequest, status_code: int, started: float) -> Record:
    user = loaded_user(request)
    meta = request.META
    return {
        "id": record_ids.next(),
        "ts": time.time(),
        "ip": get_client_ip(request),
        "m": clean_text(str(request.method or ""), 16),
        "p": clean_text(request.path, PATH_LIMIT),
        "s": int(status_code),
        "d": max(0, int((time.monotonic() - started) * 1000)),
        "u": user.pk if user is not None else None,
        "un": clean_text(user.get_username(), 150) if user is not None else "",
        "ua": clean_text(str(meta.get("HTTP_USER_AGENT", "")), 512),
        "ref": clean_text(str(meta.get("HTTP_REFERER", "")), 512),
        "b": request.__dict__.get("security_blocked", False),
    }


def encode_batch(batch: list[Record]) -> str:
    return json.dumps(batch, separators=(",", ":"))


def decode_batch(raw: bytes | str) -> list[Record]:
    batch = json.loads(raw)
    if not isinstance(batch, list) or not all(
        isinstance(record, dict) and "id" in record and "ts" in record for record in batch
    ):
        raise ValueError("not a batch of log records")
    return batch


def to_model(record: Record, geo: dict[str, str] | None = None) -> RequestLog:
    geo = geo or {}
    return RequestLog(
        record_id=uuid.UUID(record["id"]),
        timestamp=datetime.datetime.fromtimestamp(float(record["ts"]), tz=datetime.UTC),
        ip_address=record.get("ip"),
        method=record.get("m", ""),
        path=record.get("p", ""),
        status_code=int(record.get("s", 0)),
        duration_ms=int(record.get("d", 0)),
        user_id=record.get("u"),
        username=record.get("un", ""),
        user_agent=record.get("ua", ""),
        referer=record.get("ref", ""),
        blocked=bool(record.get("b", False)),
        country_code=geo.get("country_code", ""),
        country=geo.get("country", ""),
        city=geo.get("city", ""),
        geo_source=geo.get("source", ""),
    )
