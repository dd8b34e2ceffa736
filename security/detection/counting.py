"""The scan's counting rules: one GROUP BY per client of the window's requests (an address,
and each IPv6 prefix whose addresses share the window, SECURITY_DETECT_IPV6_PREFIX), and
cache busting per client and path."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Max, Min, Q, QuerySet, Value

from ..conf import conf
from ..models import SuspicionReason
from . import prefixes, rules
from .lookups import IStartsWithAny

ASSET_REGEX = r"(" + "|".join(s.replace(".", r"\.") for s in rules.STATIC_ASSET_SUFFIXES) + r")$"
EVIDENCE = ("total", "sensitive", "not_found_paths", "rate_limited", "user_agents")


@dataclass
class Finding:
    ip: str
    reason: str
    requests: int
    total: int
    first_seen: datetime
    last_seen: datetime
    evidence: dict = field(default_factory=dict)
    signature: str = ""

    def as_json(self) -> dict:
        return {"ip": self.ip, "reason": self.reason, "requests": self.requests}


def aggregate(requests: QuerySet, client: str | None = None) -> QuerySet:
    """Counting rules, one GROUP BY ip_address; with `client`, the requests as one client."""
    active = rules.rules()
    sensitive = Q(IStartsWithAny(F("path"), conf.DETECT_SENSITIVE_PATHS))
    anonymous = Q(user_id__isnull=True)
    client_error = Q(status_code__gte=400, status_code__lt=500)
    plain_visit = Q(method__in=("GET", "HEAD"), status_code__lt=300)
    missing_page = Q(status_code=404) & ~Q(path__iregex=ASSET_REGEX)
    grouped = requests.order_by()
    if client is None:
        grouped = grouped.values("ip_address")
    else:  # a constant: no GROUP BY at all, one row for every request given
        grouped = grouped.annotate(client=Value(client)).values("client")
    return grouped.annotate(
        total=Count("id"),
        anonymous=Count("id", filter=anonymous),
        sensitive=Count("id", filter=sensitive & ~plain_visit),
        sensitive_denied=Count("id", filter=sensitive & client_error),
        not_found_paths=Count("path", filter=missing_page, distinct=True),
        rate_limited=Count("id", filter=Q(status_code=429)),
        user_agents=Count(
            "user_agent",
            filter=anonymous & (Q(status_code__gte=400) | sensitive),
            distinct=True,
        ),
        first_seen=Min("timestamp"),
        last_seen=Max("timestamp"),
    ).filter(
        Q(anonymous__gt=active[SuspicionReason.HIGH_VOLUME].threshold)
        | Q(sensitive__gt=active[SuspicionReason.SENSITIVE].threshold)
        | Q(sensitive_denied__gte=rules.SENSITIVE_DENIED_THRESHOLD)
        | Q(not_found_paths__gte=rules.hourly_not_found_threshold())
        | Q(rate_limited__gte=active[SuspicionReason.RATE_LIMITED].threshold)
        | Q(user_agents__gte=active[SuspicionReason.UA_ROTATION].threshold)
    )


def reasons_of(row: dict) -> list[tuple[str, int]]:
    active = {reason: rule for reason, rule in rules.rules().items() if rule.enabled}
    checks = [
        (SuspicionReason.HIGH_VOLUME, row["anonymous"],
         row["anonymous"] > _t(active, SuspicionReason.HIGH_VOLUME)),
        (
            SuspicionReason.SENSITIVE,
            row["sensitive"],
            row["sensitive"] > _t(active, SuspicionReason.SENSITIVE)
            or row["sensitive_denied"] >= rules.SENSITIVE_DENIED_THRESHOLD,
        ),
        (
            SuspicionReason.NOT_FOUND,
            row["not_found_paths"],
            row["not_found_paths"] >= rules.hourly_not_found_threshold(),
        ),
        (SuspicionReason.RATE_LIMITED, row["rate_limited"],
         row["rate_limited"] >= _t(active, SuspicionReason.RATE_LIMITED)),
        (SuspicionReason.UA_ROTATION, row["user_agents"],
         row["user_agents"] >= _t(active, SuspicionReason.UA_ROTATION)),
    ]  # fmt: skip
    return [(reason, count) for reason, count, hit in checks if hit and reason in active]


def _t(active: dict[SuspicionReason, rules.Rule], reason: SuspicionReason) -> float:
    rule = active.get(reason)
    return rule.threshold if rule else float("inf")


def findings_of(row: dict, ip: str, **more: object) -> list[Finding]:
    evidence = {key: row[key] for key in EVIDENCE} | more
    return [
        Finding(
            ip,
            reason,
            count,
            row["total"],
            row["first_seen"],
            row["last_seen"],
            {"rule": reason, **evidence},
        )
        for reason, count in reasons_of(row)
    ]


def counting_findings(requests: QuerySet) -> list[Finding]:
    found = [f for row in aggregate(requests) for f in findings_of(row, row["ip_address"])]
    return found + prefix_findings(requests, found)


def prefix_findings(requests: QuerySet, found: list[Finding]) -> list[Finding]:
    """The counting rules over each IPv6 prefix with several addresses in the window, so that
    rotating inside a /64 does not start a new count each time. A finding names the prefix's
    first address (automatic blocking blocks its prefix) unless one of its addresses was
    already found for that rule on its own."""
    groups: dict[str, list[str]] = {}
    addresses = requests.filter(ip_address__contains=":").order_by().values_list("ip_address")
    for (ip,) in addresses.distinct():
        key = prefixes.client_key(ip)
        if key != ip:
            groups.setdefault(key, []).append(ip)
    findings: list[Finding] = []
    for key, ips in groups.items():
        if len(ips) < 2:
            continue
        alone = {f.reason for f in found if f.ip in ips}
        for row in aggregate(requests.filter(ip_address__in=ips), client=key):
            more = {"prefix": key, "addresses": len(ips)}
            findings += [f for f in findings_of(row, min(ips), **more) if f.reason not in alone]
    return findings


def cache_busting_findings(requests: QuerySet) -> list[Finding]:
    rule = rules.rules()[SuspicionReason.CACHE_BUSTING]
    if not rule.enabled:
        return []
    busted = (
        requests.exclude(query="")
        .order_by()
        .values("ip_address", "path")
        .annotate(
            queries=Count("query", distinct=True),
            first_seen=Min("timestamp"),
            last_seen=Max("timestamp"),
        )
        .filter(queries__gte=rule.threshold)
    )
    best: dict[str, Finding] = {}
    for row in busted:
        ip = row["ip_address"]
        if ip not in best or row["queries"] > best[ip].requests:
            best[ip] = Finding(
                ip,
                SuspicionReason.CACHE_BUSTING,
                row["queries"],
                row["queries"],
                row["first_seen"],
                row["last_seen"],
                {"rule": SuspicionReason.CACHE_BUSTING, "path": row["path"][:200]},
                f"{row['queries']} distinct query strings on {row['path'][:100]}",
            )
    return list(best.values())
