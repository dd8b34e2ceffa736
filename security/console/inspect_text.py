"""The address report as `manage.py inspect_ip` prints it: what decides first, then flags and
recent requests (fail2ban-client status / cscli decisions list -i, in one)."""

from datetime import datetime

from .address import Report

RECENT = 10


def _when(moment: datetime | None, never: str = "never") -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else never


def lines(report: Report) -> list[str]:
    place = ", ".join(p for p in (report.city, report.country) if p) or "unknown"
    asn = f", AS{report.asn}" if report.asn else ""
    out = [
        f"{report.target}: {report.verdict}",
        f"  seen {report.requests}{'+' if report.requests_capped else ''} requests, "
        f"first {_when(report.first_seen)}, last {_when(report.last_seen)}; {place}{asn}",
    ]
    if report.scope != report.target:
        out.append(f"  (requests of {report.scope}: this database keeps addresses as text)")
    out.append("decided by:")
    for allowed in report.allowlist:
        out.append(f"  allowlist {allowed.target} {allowed.reason}".rstrip())
    for block in report.blocks:
        source = f"feed {block.feed}" if block.feed else block.source
        strikes = f", {block.strikes} strikes" if block.strikes else ""
        state = "active" if block.active else "expired"
        out.append(
            f"  block {block.target} ({source}{strikes}) {state}, until "
            f"{_when(block.expires_at, 'unblocked')}: {block.reason or '-'}"
        )
    if report.geo_rule:
        out.append(f"  rule {report.geo_rule}")
    if not (report.allowlist or report.blocks or report.geo_rule):
        out.append("  nothing")
    out.append(f"flags: {len(report.flags) or 'none'}")
    for flag in report.flags:
        matched = f" matched {flag.signature!r}" if flag.signature else ""
        out.append(
            f"  {_when(flag.detected_at)} {flag.rule_label} ({flag.requests} requests){matched}"
        )
        for sample in flag.samples[:3]:
            query = f"?{sample['query']}" if sample["query"] else ""
            out.append(f"    {sample['method']} {sample['path']}{query} -> {sample['status']}")
    out.append("recent requests:" if report.recent else "recent requests: none")
    for row in report.recent[:RECENT]:
        query = f"?{row['query']}" if row["query"] else ""
        out.append(
            f"  {row['timestamp']:%Y-%m-%d %H:%M:%S} {row['ip_address']} {row['method']} "
            f"{row['path'][:120]}{query[:80]} {row['status_code']}"
        )
    return out
