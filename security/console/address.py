"""What one address or network did and what decides its fate: the address page and
`manage.py inspect_ip` read the same report.

Every query is bounded: first and last seen are one row each from the (ip_address, timestamp)
index; the count stops at COUNT_CAP; the top lists, the status mix and the timeline aggregate
the target's newest SAMPLE rows only; recent requests are a page of PAGE rows found by keyset
(`before` a timestamp); flags, blocks and allowlist entries are looked up by their own indexes.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDay

from .. import geo
from ..blocking import georules
from ..geo.cache import cache_get_many
from ..models import AllowedIP, BlockedIP, RequestLog, SuspiciousIP
from ..targets import parse_target
from . import evidence, scope

SAMPLE = 2000
COUNT_CAP = 10_000
PAGE = 50
TOP = 10
FLAGS = 50


@dataclass
class Block:
    target: str
    source: str
    reason: str
    created_at: datetime
    expires_at: datetime | None
    active: bool
    exact: bool
    strikes: int
    feed: str


@dataclass
class Allowed:
    target: str
    reason: str
    exact: bool


@dataclass
class Flag:
    id: int
    rule: str
    rule_label: str
    status: str
    detected_at: datetime
    detected_by: str
    requests: int
    signature: str
    facts: list[tuple[str, str]]
    samples: list[dict]
    ip_address: str


@dataclass
class Report:
    target: str
    is_network: bool
    scope: str  # what the rows shown cover (wider than target on a text database)
    verdict: str
    blocked: bool
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    requests: int = 0
    requests_capped: bool = False
    sampled: int = 0
    country_code: str = ""
    country: str = ""
    city: str = ""
    asn: int | None = None
    geo_source: str = "none"
    geo_rule: str = ""
    blocks: list[Block] = field(default_factory=list)
    allowlist: list[Allowed] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    per_day: list[tuple[str, int]] = field(default_factory=list)
    statuses: list[tuple[int, int]] = field(default_factory=list)
    paths: list[tuple[str, int]] = field(default_factory=list)
    queries: list[tuple[str, int]] = field(default_factory=list)
    user_agents: list[tuple[str, int]] = field(default_factory=list)
    referers: list[tuple[str, int]] = field(default_factory=list)
    rate_limited: int = 0
    recent: list[dict] = field(default_factory=list)
    next_before: str = ""

    def as_json(self) -> dict:
        return asdict(self)


def report(text: str, before: datetime | None = None) -> Report:
    """Raises security.targets.InvalidInput (a one-line reason) for anything not an address or
    network."""
    target = parse_target(text, allow_huge=True)
    blocks = [_block(row, target) for row in scope.rows_covering(BlockedIP, target)]
    allowed = [
        Allowed(row.ip_address, row.reason, row.ip_address == target)
        for row in scope.rows_covering(AllowedIP, target)
    ]
    result = Report(target, scope.is_network(target), scope.shown_scope(target), "", False)
    result.blocks = sorted(blocks, key=lambda b: (not b.active, not b.exact, b.target))
    result.allowlist = allowed
    if not result.is_network:
        _geolocate(result)
    result.verdict, result.blocked = verdict(result)
    rows = scope.filter_target(RequestLog.objects.all(), target)
    _seen(result, rows)
    _summaries(result, rows)
    _recent(result, rows, before)
    flags = scope.filter_target(SuspiciousIP.objects.all(), target).order_by("-detected_at")
    result.flags = [_flag(row) for row in flags[:FLAGS]]
    return result


def _block(row: BlockedIP, target: str) -> Block:
    return Block(
        row.ip_address,
        row.source,
        row.reason,
        row.created_at,
        row.expires_at,
        row.is_active,
        row.ip_address == target,
        row.strikes,
        row.feed,
    )


def verdict(result: Report) -> tuple[str, bool]:
    """What the blocklist middleware decides, in its order: allowlist, blocks, geo rules."""
    if result.allowlist:
        return f"allowed: the allowlist entry {result.allowlist[0].target} wins", False
    active = [b for b in result.blocks if b.active]
    if active:
        first = active[0]
        by = f"feed {first.feed}" if first.feed else first.source
        until = f" until {first.expires_at:%Y-%m-%d %H:%M} UTC" if first.expires_at else ""
        return f"blocked by {first.target} ({by}){until}", True
    if result.geo_rule:
        return f"blocked by the rule on {result.geo_rule}", True
    return "not blocked", False


def _geolocate(result: Report) -> None:
    """Local databases, then the shared cache of API answers; never the API itself."""
    ip = result.target
    found = geo.lookup(ip, use_network=False)
    if not found.known:
        found = cache_get_many([ip]).get(ip, found)
    result.country_code, result.country, result.city = (
        found.country_code,
        found.country,
        found.city,
    )
    result.geo_source = found.source
    result.asn = geo.asn_of(ip)
    if georules.configured():
        result.geo_rule = georules.denial(ip) or ""


def _seen(result: Report, rows: QuerySet) -> None:
    ordered = rows.order_by("timestamp").values_list("timestamp", flat=True)
    result.first_seen = ordered.first()
    result.last_seen = rows.order_by("-timestamp").values_list("timestamp", flat=True).first()
    result.requests = rows.order_by()[: COUNT_CAP + 1].count()
    result.requests_capped = result.requests > COUNT_CAP
    result.requests = min(result.requests, COUNT_CAP)
    if not result.geo_source or result.geo_source == "none":
        last = rows.order_by("-timestamp").values("country_code", "country", "city").first()
        if last and (last["country_code"] or last["city"]):
            result.country_code, result.country = last["country_code"], last["country"]
            result.city, result.geo_source = last["city"], "log"


def _top(sample: QuerySet, column: str, limit: int | None = TOP) -> list[tuple]:
    counted = sample.values(column).annotate(n=Count("pk")).order_by("-n", column)
    rows = counted[:limit] if limit else counted
    return [(row[column], row["n"]) for row in rows]


def _summaries(result: Report, rows: QuerySet) -> None:
    # The newest SAMPLE rows as a time range of the (ip_address, timestamp) index: aggregating
    # over `pk IN (... LIMIT n)` made PostgreSQL join against the whole table.
    cutoff = rows.order_by("-timestamp").values_list("timestamp", flat=True)[SAMPLE - 1 : SAMPLE]
    oldest = next(iter(cutoff), None)
    sample = (rows.filter(timestamp__gte=oldest) if oldest else rows).order_by()
    result.sampled = min(result.requests, SAMPLE)
    result.statuses = _top(sample, "status_code", None)
    result.rate_limited = dict(result.statuses).get(429, 0)
    result.paths = _top(sample, "path")
    result.queries = [(q, n) for q, n in _top(sample.exclude(query=""), "query")]
    result.user_agents = _top(sample, "user_agent")
    result.referers = _top(sample.exclude(referer=""), "referer")
    days = sample.annotate(day=TruncDay("timestamp")).values("day").annotate(n=Count("pk"))
    result.per_day = [(f"{row['day']:%Y-%m-%d}", row["n"]) for row in days.order_by("day")]


def _recent(result: Report, rows: QuerySet, before: datetime | None) -> None:
    page = rows.filter(timestamp__lt=before) if before else rows
    fields = ("timestamp", "ip_address", "method", "path", "query", "status_code", "user_agent")
    found = list(page.order_by("-timestamp").values(*fields)[: PAGE + 1])
    result.recent = found[:PAGE]
    if len(found) > PAGE:
        result.next_before = found[PAGE - 1]["timestamp"].isoformat()


def _flag(row: SuspiciousIP) -> Flag:
    return Flag(
        row.pk,
        row.reason,
        row.get_reason_display(),
        row.status,
        row.detected_at,
        row.detected_by,
        row.requests,
        row.signature,
        evidence.facts(row.evidence),
        evidence.samples(row.evidence),
        row.ip_address,
    )
