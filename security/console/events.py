"""Security events, newest first: flags, manual and automatic blocks, and requests answered
403 or 429, merged from their three tables.

Bounded at any page: each table is read through an index on its time column (the 403/429
requests through a partial index of those rows only), from the keyset cursor down, PAGE + 1
rows at most; the merge keeps the newest PAGE. The cursor is the last event's (time, kind, id).

No table stores an address's network operator: the ASN filter looks each event's address up in
the local GeoLite2-ASN database as it reads, ASN_SCAN_LIMIT rows of a table at most per page.
A table that ran out of that before its page filled ends the page where its reading stopped
(nothing newer than there is missing), and the next page goes on from there.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from heapq import merge

from django.db.models import Q, QuerySet

from .. import geo
from ..addresses import parse_network
from ..detection import registry
from ..models import BlockedIP, BlockSource, RequestLog, SuspiciousIP
from ..targets import InvalidInput, parse_target
from . import scope
from .timerange import TimeRange

PAGE = 50
EXPORT_LIMIT = 50_000
KINDS = ("flag", "block", "request")  # the order of equal times, newest page first
REFUSED = (403, 429)
ASN_SCAN_LIMIT = 5_000
ASN_BATCH = 500
BLOCK_SOURCES = (BlockSource.MANUAL, BlockSource.AUTOMATIC)


@dataclass(frozen=True)
class Filters:
    rule: str = ""
    country: str = ""
    path: str = ""
    status: int | None = None
    target: str = ""
    kind: str = ""
    asn: int | None = None

    @classmethod
    def from_query(cls, params: dict) -> "Filters":
        """Raises ValueError with a one-line reason."""
        rule = params.get("rule", "")
        reasons = [reason for reason, _label in registry.reason_choices()]
        if rule and rule not in reasons:
            raise ValueError(f"rule must be one of {', '.join(reasons)}")
        status = params.get("status", "")
        if status and status not in {str(code) for code in REFUSED}:
            raise ValueError("status must be 403 or 429")
        kind = params.get("kind", "")
        if kind and kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        target = params.get("ip", "").strip()
        if target:
            try:
                target = parse_target(target, allow_huge=True)
            except InvalidInput as error:
                raise ValueError(str(error)) from error
        country = params.get("country", "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise ValueError("country must be a two-letter code")
        asn = params.get("asn", "").strip().upper().removeprefix("AS")
        if asn and not (asn.isdigit() and 0 < int(asn) < 2**32):
            raise ValueError("asn must be an AS number, e.g. AS64500 or 64500")
        return cls(rule, country, params.get("path", "")[:500], int(status) if status else None,
                   target, kind, int(asn) if asn else None)  # fmt: skip

    def wants(self, kind: str) -> bool:
        if self.kind and self.kind != kind:
            return False
        if kind == "flag":
            return not (self.country or self.path or self.status)
        if kind == "block":
            return not (self.rule or self.country or self.path or self.status)
        return not self.rule


@dataclass(frozen=True)
class Event:
    time: datetime
    kind: str
    id: int
    ip: str
    what: str
    detail: str
    status: int | None = None
    country: str = ""

    @property
    def key(self) -> tuple:
        return (self.time, -KINDS.index(self.kind), self.id)


@dataclass(frozen=True)
class Cursor:
    time: datetime
    kind: str
    id: int

    @classmethod
    def at(cls, event: Event) -> "Cursor":
        return cls(event.time, event.kind, event.id)

    @property
    def key(self) -> tuple:
        return (self.time, -KINDS.index(self.kind), self.id)

    def text(self) -> str:
        return f"{self.time.isoformat()}|{self.kind}|{self.id}"

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        try:
            moment, kind, number = text.split("|")
            if kind not in KINDS:
                raise ValueError(kind)
            return cls(datetime.fromisoformat(moment), kind, int(number))
        except ValueError as error:
            raise ValueError("after must be the page's own link") from error


def _below(rows: QuerySet, column: str, kind: str, cursor: Cursor | None) -> QuerySet:
    if cursor is None:
        return rows
    rank, cursor_rank = KINDS.index(kind), KINDS.index(cursor.kind)
    earlier = Q(**{f"{column}__lt": cursor.time})
    if rank > cursor_rank:  # shown after the cursor's kind at the same time
        earlier |= Q(**{column: cursor.time})
    elif rank == cursor_rank:
        earlier |= Q(**{column: cursor.time, "pk__lt": cursor.id})
    return rows.filter(earlier)


def flags(span: TimeRange, f: Filters, cursor: Cursor | None, limit: int) -> list[Event]:
    rows = SuspiciousIP.objects.filter(detected_at__gte=span.start, detected_at__lt=span.end)
    if f.rule:
        rows = rows.filter(reason=f.rule)
    if f.target:
        rows = scope.filter_target(rows, f.target)
    rows = _below(rows, "detected_at", "flag", cursor).order_by("-detected_at", "-pk")
    return [
        Event(
            r.detected_at,
            "flag",
            r.pk,
            r.ip_address,
            f"flagged: {r.get_reason_display()}",
            r.signature or f"{r.requests} requests",
        )  # fmt: skip
        for r in rows[:limit]
    ]


def blocks(span: TimeRange, f: Filters, cursor: Cursor | None, limit: int) -> list[Event]:
    rows: QuerySet = BlockedIP.objects.filter(
        created_at__gte=span.start, created_at__lt=span.end, source__in=BLOCK_SOURCES
    )
    if f.target:
        rows = rows.filter(ip_address__in=scope.covering(f.target))
    rows = _below(rows, "created_at", "block", cursor).order_by("-created_at", "-pk")
    events = []
    for r in rows[:limit]:
        until = f"until {r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else "no expiry"
        strikes = f", strike {r.strikes}" if r.strikes else ""
        events.append(Event(r.created_at, "block", r.pk, r.ip_address,
                            f"{r.source} block", f"{until}{strikes}; {r.reason}"))  # fmt: skip
    return events


def refused(span: TimeRange, f: Filters, cursor: Cursor | None, limit: int) -> list[Event]:
    rows = RequestLog.objects.filter(
        timestamp__gte=span.start, timestamp__lt=span.end, status_code__in=REFUSED
    )
    if f.status:
        rows = rows.filter(status_code=f.status)
    if f.country:
        rows = rows.filter(country_code=f.country)
    if f.path:
        rows = rows.filter(path__startswith=f.path)
    if f.target:
        rows = scope.filter_target(rows, f.target)
    rows = _below(rows, "timestamp", "request", cursor).order_by("-timestamp", "-pk")
    fields = ("pk", "timestamp", "ip_address", "method", "path", "status_code", "country_code")
    return [
        Event(
            r["timestamp"],
            "request",
            r["pk"],
            r["ip_address"] or "",
            f"{r['method']} {r['path'][:200]}",
            "blocked" if r["status_code"] == 403 else "rate-limited",
            r["status_code"],
            r["country_code"],
        )  # fmt: skip
        for r in rows.values(*fields)[:limit]
    ]


SOURCES = {"flag": flags, "block": blocks, "request": refused}


def asn_of_event(event: Event) -> int | None:
    # A block's address may be a network: its first address stands for it.
    try:
        return geo.asn_of(str(parse_network(event.ip).network_address))
    except ValueError:
        return None


def of_asn(
    read: Callable[[TimeRange, Filters, Cursor | None, int], list[Event]],
    span: TimeRange,
    f: Filters,
    cursor: Cursor | None,
    limit: int,
    scan_limit: int,
) -> tuple[list[Event], Cursor | None]:
    """Up to `limit` events of f.asn below the cursor, reading at most `scan_limit` rows, and
    where the reading stopped if it ran out of them first (else None)."""
    found: list[Event] = []
    scanned = 0
    while True:
        batch = read(span, f, cursor, ASN_BATCH)
        found += [event for event in batch if asn_of_event(event) == f.asn]
        scanned += len(batch)
        if len(found) >= limit or len(batch) < ASN_BATCH:
            return found[:limit], None
        cursor = Cursor.at(batch[-1])
        if scanned >= scan_limit:
            return found, cursor


def page(
    span: TimeRange,
    f: Filters,
    cursor: Cursor | None = None,
    size: int = PAGE,
    scan_limit: int = ASN_SCAN_LIMIT,
) -> tuple[list[Event], Cursor | None]:
    """The newest `size` events below the cursor, and the cursor of the next page (or None)."""
    found, stops = [], []
    for kind, read in SOURCES.items():
        if not f.wants(kind):
            continue
        if f.asn is None:
            found.append(read(span, f, cursor, size + 1))
            continue
        events, stop = of_asn(read, span, f, cursor, size + 1, scan_limit)
        found.append(events)
        if stop is not None:
            stops.append(stop)
    ordered = list(merge(*found, key=lambda e: e.key, reverse=True))
    if stops:
        # Below the newest place a table's reading stopped, events of that table are unread.
        edge = max(stops, key=lambda stop: stop.key)
        ordered = [event for event in ordered if event.key >= edge.key]
        if len(ordered) <= size:
            return ordered, edge
    shown = ordered[:size]
    more = len(ordered) > size
    return shown, Cursor.at(shown[-1]) if shown and more else None
