"""What the analytics page shows, read from the rollups and visitor sketches the drain keeps
(requestlog/analytics.py), never from RequestLog rows. Every query is bounded by the range's
length, not by the traffic: hourly rows of few-keyed dimensions, and for the many-keyed ones
daily rows for the range's whole UTC days plus hourly rows for the hours at its ends.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import BigIntegerField, Case, F, Q, Sum, When

from ..models import Audience, RequestRollup, RollupKind, SketchSpan
from ..requestlog import analytics, compaction, sketches
from .timerange import HOUR, TimeRange

DAY = timedelta(days=1)
TOP = 50
EXPORT_LIMIT = 10_000
# Ranges up to this long are drawn hour by hour; longer ones day by day.
HOURLY_SERIES_UP_TO = timedelta(days=3)
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


@dataclass(frozen=True)
class Table:
    """One table of the page: a rollup dimension summed over the range."""

    dimension: str
    title: str
    columns: tuple[str, ...]

    def row(self, key: str, count: int) -> list:
        if self.dimension in ("country", "city"):
            code, _, name = key.partition("\t")
            return [code, name, count]
        return [key, count]


TABLES = {
    "pages": Table("page", "Pages (pageviews)", ("path", "pageviews")),
    "referrers": Table("referer", "Referring sites", ("host", "requests")),
    "browsers": Table("browser", "Browsers", ("browser", "requests")),
    "systems": Table("os", "Operating systems", ("system", "requests")),
    "devices": Table("device", "Devices", ("device", "requests")),
    "bots": Table("bot", "Bots and crawlers", ("bot", "requests")),
    "countries": Table("country", "Countries", ("code", "country", "requests")),
    "cities": Table("city", "Cities", ("code", "city", "requests")),
    "not_found": Table("missing", "Not found (404)", ("path", "requests")),
    "static": Table("static", "Static files", ("path", "requests")),
    "hosts": Table("host", "Addresses", ("address", "requests")),
    "status": Table("status", "Status codes", ("status", "requests")),
}
SERIES_COLUMNS = ("period", "visitors", "bot_addresses", "pageviews", "requests", "bot_requests")
STATUS_SERIES_COLUMNS = ("period", *STATUS_CLASSES)
PATH_COLUMNS = ("period", "requests", *STATUS_CLASSES)


def kinds(dimension: str, own: bool, day: bool = False) -> list[str]:
    found = [analytics.kind(dimension, day=day)]
    if own:
        found.append(analytics.kind(dimension, own=True, day=day))
    return found


def ceil_day(moment: datetime) -> datetime:
    floor = moment.replace(hour=0)
    return floor if floor == moment else floor + DAY


def split_days(
    span: TimeRange, daily_until: datetime | None
) -> tuple[list[tuple[datetime, datetime]], tuple | None]:
    """The range's whole UTC days that have daily rows (those before daily_until), and the
    hours around them that must be read hour by hour."""
    first, last = ceil_day(span.start), span.end.replace(hour=0)
    if daily_until is not None:
        last = min(last, daily_until)
    if daily_until is None or first >= last:
        return [(span.start, span.end)], None
    edges = [(a, b) for a, b in ((span.start, first), (last, span.end)) if a < b]
    return edges, (first, last)


def _window(dimension: str, span: TimeRange, own: bool) -> Q:
    if dimension not in analytics.DAILY:
        return Q(kind__in=kinds(dimension, own), hour__gte=span.start, hour__lt=span.end)
    edges, days = split_days(span, compaction.daily_until())
    window = Q(pk__in=[])
    for start, end in edges:
        window |= Q(kind__in=kinds(dimension, own), hour__gte=start, hour__lt=end)
    if days:
        window |= Q(kind__in=kinds(dimension, own, day=True), hour__gte=days[0], hour__lt=days[1])
    return window


def _host_window(span: TimeRange, own: bool) -> tuple[Q, Sum]:
    """Addresses are counted per day only (analytics.py); the hours at the range's ends come
    from RollupKind.IP, which counts every request, less the own traffic's hourly counts."""
    edges, days = split_days(span, compaction.daily_until())
    edge_kinds = [RollupKind.IP] if own else [RollupKind.IP, RollupKind.O_HOST]
    window = Q(pk__in=[])
    for start, end in edges:
        window |= Q(kind__in=edge_kinds, hour__gte=start, hour__lt=end)
    if days:
        window |= Q(kind__in=kinds("host", own, day=True), hour__gte=days[0], hour__lt=days[1])
    signed = Case(
        When(kind=RollupKind.O_HOST, then=-F("count")),
        default=F("count"),
        output_field=BigIntegerField(),
    )
    return window, Sum(signed)


def totals(
    dimension: str, span: TimeRange, own: bool, limit: int | None = TOP, **match: Any
) -> list[tuple[str, int]]:
    if dimension == "host":
        window, total = _host_window(span, own)
    else:
        window, total = _window(dimension, span, own), Sum("count")
    rows = (
        RequestRollup.objects.filter(window, **match)
        .values("key")
        .annotate(count=total)
        .filter(count__gt=0)
        .order_by("-count", "key")
        .values_list("key", "count")
    )
    return list(rows[:limit] if limit else rows)


def table(name: str, span: TimeRange, own: bool, limit: int | None = TOP) -> list[list]:
    spec = TABLES[name]
    return [spec.row(key, count) for key, count in totals(spec.dimension, span, own, limit)]


def buckets(span: TimeRange) -> list[tuple[datetime, datetime]]:
    """The series' periods: hours for short ranges, UTC days (cut to the range) otherwise."""
    hourly = span.end - span.start <= HOURLY_SERIES_UP_TO
    step = HOUR if hourly else DAY
    found, start = [], span.start
    while start < span.end:
        end = min(start.replace(hour=0) + DAY, span.end) if not hourly else start + step
        found.append((start, end))
        start = end
    return found


def hourly_counts(dimension: str, span: TimeRange, own: bool, **match: Any) -> dict:
    """{(hour, key): count} of an hourly dimension over the range."""
    rows = (
        RequestRollup.objects.filter(
            kind__in=kinds(dimension, own), hour__gte=span.start, hour__lt=span.end, **match
        )
        .values("hour", "key")
        .annotate(count=Sum("count"))
        .values_list("hour", "key", "count")
    )
    return {(hour, key): count for hour, key, count in rows}


def per_bucket(
    counts: dict, periods: list, key_of: Callable[[Any], Any] = lambda key: key
) -> list[defaultdict[Any, int]]:
    found: list[defaultdict[Any, int]] = [defaultdict(int) for _ in periods]
    index = 0
    for (hour, key), count in sorted(counts.items()):
        while periods[index][1] <= hour:
            index += 1
        found[index][key_of(key)] += count
    return found


def audiences(*groups: str, own: bool) -> list[str]:
    return [*groups, Audience.OWN] if own else list(groups)


def distinct_visitors(start: datetime, end: datetime, groups: list[str]) -> int:
    """Distinct addresses in [start, end): day sketches for whole days, hour sketches else."""
    edges, days = split_days(TimeRange(start, end, ""), end)  # every day has its sketch
    raws: list[bytes] = []
    for edge_start, edge_end in edges:
        for found in sketches.by_period(SketchSpan.HOUR, edge_start, edge_end, groups).values():
            raws += found
    if days:
        for found in sketches.by_period(SketchSpan.DAY, days[0], days[1], groups).values():
            raws += found
    return sketches.union(raws)


def visitors_per_bucket(periods: list, groups: list[str]) -> list[int]:
    if not periods:
        return []
    if periods[0][1] - periods[0][0] == HOUR:
        stored = sketches.by_period(SketchSpan.HOUR, periods[0][0], periods[-1][1], groups)
        return [sketches.union(stored.get(start, [])) for start, _end in periods]
    return [distinct_visitors(start, end, groups) for start, end in periods]


def series(span: TimeRange, own: bool) -> list[list]:
    periods = buckets(span)
    hits = per_bucket(hourly_counts("hits", span, own), periods)
    views = per_bucket(hourly_counts("views", span, own), periods)
    people = visitors_per_bucket(periods, audiences(Audience.PEOPLE, own=own))
    bots = visitors_per_bucket(periods, [Audience.BOTS])
    return [
        [
            start.isoformat(),
            people[i],
            bots[i],
            views[i][""],
            hits[i]["person"] + hits[i]["bot"],
            hits[i]["bot"],
        ]
        for i, (start, _end) in enumerate(periods)
    ]


def status_class(code: str) -> str:
    return f"{code[:1]}xx"


def status_series(span: TimeRange, own: bool) -> list[list]:
    periods = buckets(span)
    counts = per_bucket(hourly_counts("status", span, own), periods, status_class)
    return [
        [start.isoformat(), *(counts[i][label] for label in STATUS_CLASSES)]
        for i, (start, _end) in enumerate(periods)
    ]


def summary(span: TimeRange, own: bool) -> dict:
    hits = dict(totals("hits", span, own, limit=None))
    views = dict(totals("views", span, own, limit=None))
    missing = sum(count for code, count in totals("status", span, own, None) if code == "404")
    return {
        "visitors": distinct_visitors(span.start, span.end, audiences(Audience.PEOPLE, own=own)),
        "bot_addresses": distinct_visitors(span.start, span.end, [Audience.BOTS]),
        "pageviews": views.get("", 0),
        "requests": hits.get("person", 0) + hits.get("bot", 0),
        "bot_requests": hits.get("bot", 0),
        "not_found": missing,
    }


def path_keys(path: str, span: TimeRange, own: bool) -> list[str]:
    """The (status, path) keys a path can have: one per status code seen in the range."""
    codes = [code for code, _count in totals("status", span, own, limit=None)]
    return [analytics.path_status_key(int(code), path) for code in codes if code.isdigit()]


def path_detail(path: str, span: TimeRange, own: bool) -> dict:
    """One path: its requests and status classes over time, and its status codes."""
    keys = path_keys(path, span, own)
    by_status = totals("pstatus", span, own, limit=None, key__in=keys)
    periods = buckets(span)
    if periods and periods[0][1] - periods[0][0] == HOUR:
        counts = hourly_counts("pstatus", span, own, key__in=keys)
    else:
        counts = _daily_path_counts(span, own, keys)
    per = per_bucket(counts, periods, lambda key: status_class(key.partition("\t")[0]))
    return {
        "path": path,
        "requests": sum(count for _key, count in by_status),
        "status": [[key.partition("\t")[0], count] for key, count in by_status],
        "series": [
            [start.isoformat(), sum(per[i].values()), *(per[i][c] for c in STATUS_CLASSES)]
            for i, (start, _end) in enumerate(periods)
        ],
    }


def _daily_path_counts(span: TimeRange, own: bool, keys: list[str]) -> dict:
    """{(hour, key): count} from the daily rows of whole days and hourly rows of the ends."""
    rows = (
        RequestRollup.objects.filter(_window("pstatus", span, own), key__in=keys)
        .values("hour", "key")
        .annotate(count=Sum("count"))
        .values_list("hour", "key", "count")
    )
    # A day row is stamped with its midnight, which may fall before the range's first hour.
    return {(max(hour, span.start), key): count for hour, key, count in rows}
