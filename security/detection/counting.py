"""The scan's counting rules: one GROUP BY per client of the window's requests (an address,
and each IPv6 prefix whose addresses share the window, SECURITY_DETECT_IPV6_PREFIX), and
cache busting per client and path."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Min, Q, QuerySet, Value

from . import prefixes, registry
from .rule import CountingRule, ScanTerms

NOT_EVIDENCE = ("ip_address", "client", "first_seen", "last_seen")


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


def per_client_rules() -> list[CountingRule]:
    return [rule for rule in registry.counting(registry.enabled()).values() if not rule.per_path]


def aggregate(requests: QuerySet, rules: list[CountingRule], client: str | None = None) -> QuerySet:
    """The rules' counts, one GROUP BY ip_address; with `client`, the requests as one client.
    Only rows where some rule may have a finding come back."""
    terms = ScanTerms.current()
    grouped = requests.order_by()
    if client is None:
        grouped = grouped.values("ip_address")
    else:  # a constant: no GROUP BY at all, one row for every request given
        grouped = grouped.annotate(client=Value(client)).values("client")
    counts: dict = {}
    for rule in rules:
        counts |= rule.counts(terms)
    having = Q()
    for rule in rules:
        having |= rule.having()
    return grouped.annotate(
        total=Count("id"), **counts, first_seen=Min("timestamp"), last_seen=Max("timestamp")
    ).filter(having)


def findings_of(row: dict, ip: str, rules: list[CountingRule], **more: object) -> list[Finding]:
    evidence = {key: value for key, value in row.items() if key not in NOT_EVIDENCE} | more
    return [
        Finding(
            ip,
            rule.reason,
            row[rule.count_name],
            row["total"],
            row["first_seen"],
            row["last_seen"],
            {"rule": rule.reason, **evidence},
        )
        for rule in rules
        if rule.flagged(row)
    ]


def counting_findings(requests: QuerySet) -> list[Finding]:
    rules = per_client_rules()
    if not rules:
        return []
    found = [
        finding
        for row in aggregate(requests, rules)
        for finding in findings_of(row, row["ip_address"], rules)
    ]
    return found + prefix_findings(requests, rules, found)


def prefix_findings(
    requests: QuerySet, rules: list[CountingRule], found: list[Finding]
) -> list[Finding]:
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
        for row in aggregate(requests.filter(ip_address__in=ips), rules, client=key):
            more = {"prefix": key, "addresses": len(ips)}
            findings += [
                f for f in findings_of(row, min(ips), rules, **more) if f.reason not in alone
            ]
    return findings


def per_path_findings(requests: QuerySet) -> list[Finding]:
    """Rules counted per client and path (cache busting): each client's worst path."""
    found: list[Finding] = []
    terms = ScanTerms.current()
    for rule in registry.counting(registry.enabled()).values():
        if not rule.per_path:
            continue
        counted = (
            requests.order_by()
            .values("ip_address", "path")
            .annotate(**rule.counts(terms), first_seen=Min("timestamp"), last_seen=Max("timestamp"))
            .filter(rule.having())
        )
        best: dict[str, Finding] = {}
        for row in counted:
            ip, count = row["ip_address"], row[rule.count_name]
            if rule.flagged(row) and (ip not in best or count > best[ip].requests):
                best[ip] = Finding(
                    ip,
                    rule.reason,
                    count,
                    count,
                    row["first_seen"],
                    row["last_seen"],
                    {"rule": rule.reason, "path": row["path"][:200]},
                    f"{count} {rule.describe} on {row['path'][:100]}",
                )
        found += best.values()
    return found
