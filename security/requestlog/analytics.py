"""The analytics the drain keeps beside the rows, in the same transaction: hourly counts by
dimension (RollupKind "v.*" for the site's visitors, "o.*" for the operator's own traffic) and
the distinct addresses of each hour and UTC day as sketches (sketches.py). The dimensions with
many keys (paths, cities, referring sites, addresses) also get daily rows (":d"), made once a
day is over by compaction.py, so that a month is read from a thirtieth of the rows.

    rows -> traffic.facets()  (own?, person or bot, browser, system, device, pageview,
                                static file, referring site)
         -> count()          -> rollups.add()    RequestRollup rows
         -> visitors()       -> sketches.add()   VisitorSketch rows
"""

from collections import Counter
from datetime import datetime
from typing import NamedTuple

from ..models import Audience, RequestRollup, RollupKind, SketchSpan
from . import traffic
from .records import StoredRow

KEY_LIMIT = RequestRollup._meta.get_field("key").max_length
# Dimensions counted per hour only: a few dozen keys at most, a month is a few thousand rows.
HOURLY = ("hits", "views", "status", "browser", "os", "device", "bot", "country")
# Dimensions with as many keys as the site has paths or visitors: also kept per UTC day.
DAILY = ("page", "static", "missing", "referer", "city", "pstatus", "host")


def kind(dimension: str, own: bool = False, day: bool = False) -> str:
    return f"{'o' if own else 'v'}.{dimension}{':d' if day else ''}"


def _kinds(own: bool) -> dict[str, str]:
    found = {name: kind(name, own) for name in HOURLY + DAILY}
    found.update({f"{name}:d": kind(name, own, day=True) for name in DAILY})
    return found


KINDS = {False: _kinds(False), True: _kinds(True)}


def place_key(code: str, name: str) -> str:
    """Countries and cities are kept as "SE<TAB>Sweden" and "SE<TAB>Lund"."""
    return f"{code}\t{name}"[:KEY_LIMIT] if (code or name) else ""


def path_status_key(status: int, path: str) -> str:
    return f"{status}\t{path}"[:KEY_LIMIT]


def hours_of(rows: list) -> list[datetime]:
    cache: dict = {}
    found = []
    for row in rows:
        stamp = row.timestamp
        key = (stamp.year, stamp.month, stamp.day, stamp.hour)
        hour = cache.get(key)
        if hour is None:
            hour = cache[key] = stamp.replace(minute=0, second=0, microsecond=0)
        found.append(hour)
    return found


def many_keyed(row: "StoredRow | Alike", facet: traffic.Facets) -> list[tuple[str, str]]:
    """(dimension, key) of the many-keyed dimensions a row counts in."""
    path = row.path[:KEY_LIMIT]
    found = [("pstatus", path_status_key(row.status_code, row.path))]
    if row.city:
        found.append(("city", place_key(row.country_code, row.city)))
    if facet.pageview:
        found.append(("page", path))
    if facet.static:
        found.append(("static", path))
    if row.status_code == 404:
        found.append(("missing", path))
    if facet.referer_host:
        found.append(("referer", facet.referer_host[:KEY_LIMIT]))
    return found


def count(
    rows: list,
    facets: list[traffic.Facets],
    hours: list[datetime],
    counts: Counter,
    daily_before: datetime | None = None,
) -> None:
    """Add the analytics counts of rows (with their facets and hours, in the same order) to
    counts. Rows of days already compacted (before daily_before) count in the daily rows too.

    A visitor's address is counted per hour by RollupKind.IP already (every request): only
    the own traffic's is counted here, and the visitors' per hour is the difference."""
    # Rows alike but for their address are counted once, then added n times: a batch holds
    # far fewer kinds of request than requests.
    alike: Counter = Counter()
    for row, facet, hour in zip(rows, facets, hours, strict=True):
        place = (row.country_code, row.country, row.city)
        alike[(hour, facet, row.status_code, *place, row.path)] += 1
        if facet.own:
            counts[(hour, RollupKind.O_HOST, row.ip_address or "")] += 1
        if daily_before is not None and hour < daily_before:
            day = hour.replace(hour=0)
            for dimension, key in [*many_keyed(row, facet), ("host", row.ip_address or "")]:
                counts[(day, KINDS[facet.own][f"{dimension}:d"], key)] += 1
    for (hour, facet, status, country_code, country, city, path), n in alike.items():
        k = KINDS[facet.own]
        agent = facet.agent
        counts[(hour, k["hits"], "bot" if agent.bot else "person")] += n
        counts[(hour, k["status"], str(status))] += n
        counts[(hour, k["country"], place_key(country_code, country))] += n
        if agent.bot:
            counts[(hour, k["bot"], agent.bot)] += n
        else:
            counts[(hour, k["browser"], agent.browser)] += n
            counts[(hour, k["os"], agent.os)] += n
            counts[(hour, k["device"], agent.device)] += n
        if facet.pageview:
            counts[(hour, k["views"], "")] += n
        for dimension, key in many_keyed(Alike(path, status, country_code, city), facet):
            counts[(hour, k[dimension], key)] += n


class Alike(NamedTuple):
    path: str
    status_code: int
    country_code: str
    city: str


def audience(facet: traffic.Facets) -> str:
    if facet.own:
        return Audience.OWN
    return Audience.BOTS if facet.agent.bot else Audience.PEOPLE


VisitorKey = tuple[str, datetime, str]  # (span, period, audience)


def visitors(
    rows: list, facets: list[traffic.Facets], hours: list[datetime]
) -> dict[VisitorKey, set[str]]:
    """The distinct addresses of each hour and day in rows, by audience."""
    found: dict[VisitorKey, set[str]] = {}
    for row, facet, hour in zip(rows, facets, hours, strict=True):
        if row.ip_address:
            found.setdefault((SketchSpan.HOUR, hour, audience(facet)), set()).add(row.ip_address)
    for (_span, hour, group), addresses in list(found.items()):
        found.setdefault((SketchSpan.DAY, hour.replace(hour=0), group), set()).update(addresses)
    return found


def count_rows(
    rows: list, counts: Counter, daily_before: datetime | None = None
) -> dict[VisitorKey, set[str]]:
    """Everything the analytics keep of rows: counts added to `counts`, visitors returned."""
    if not rows:
        return {}
    found = traffic.facets(rows)
    hours = hours_of(rows)
    count(rows, found, hours, counts, daily_before)
    return visitors(rows, found, hours)
