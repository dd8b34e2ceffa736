"""The detection rules, defined once. The streaming rules run in the drain, per batch, within
seconds of a request; the hourly scan runs every rule over the hour in SQL and catches up on
whatever streaming missed (Redis down, worker away). Both write the same SuspiciousIP rows.

| rule          | matches                                                   | window | threshold |
|---------------|-----------------------------------------------------------|--------|-----------|
| exploit       | backdoors.txt, cve_uris.txt (path, path?query)            | 1 h    | 1         |
| probe         | sensitive_files.txt, admin_interfaces.txt (path),         | 1 h    | 1         |
|               | probe_queries.txt (?query)                                |        |           |
| traversal     | traversal.txt (decoded path, query)                       | 1 h    | 1         |
| injection     | injection.regex.txt (decoded query, path, user agent)     | 1 h    | 1         |
| scanner       | scanner_user_agents.txt (user agent)                      | 1 h    | 1         |
| not_found     | distinct paths answered 404, static assets left out       | 60 s   | 15        |
|               | (hourly scan: distinct 404 paths in the hour)             | 1 h    | 20        |
| high_volume   | requests of anonymous clients (hourly scan only)          | 1 h    | 1000      |
| sensitive     | requests to /admin, /login..., or 3 answered 4xx (scan)   | 1 h    | 20        |
| rate_limited  | answers 429                                               | 10 min | 5         |
| cache_busting | distinct query strings on one path, anonymous clients     | 1 h    | 50        |
| ua_rotation   | distinct user agents of one anonymous client on refused   | 1 h    | 6         |
|               | requests or sensitive paths                               |        |           |

Streaming windows are fixed (aligned to the window length); the hourly scan counts over its
own window, so near a boundary the two can differ by a few requests: whichever flags first
writes the row, and the other finds it there.

Thresholds and windows are settings (SECURITY_DETECT_RULES = {"not_found": {"threshold": 30},
"scanner": {"enabled": False}}); the signature lists take extra entries from settings too.
Requests the blocklist turned away never count (a ban must not feed the next ban), nor do
staff users' requests or allowlisted addresses.
"""

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings

from ..models import SuspicionReason as Reason
from . import signatures

# Missing assets are a broken page, not a scan: a single-page or media app can ask for dozens.
STATIC_ASSET_SUFFIXES = (
    ".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp",
    ".avif", ".woff", ".woff2", ".ttf", ".eot", ".otf", ".mp4", ".webm", ".mp3", ".m4a", ".ogg",
    ".wav", ".json", ".txt", ".xml", ".webmanifest",
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    reason: str
    window: int  # seconds
    threshold: int
    streaming: bool
    enabled: bool = True


DEFAULT_RULES = {
    Reason.EXPLOIT: Rule(Reason.EXPLOIT, 3600, 1, streaming=True),
    Reason.PROBE: Rule(Reason.PROBE, 3600, 1, streaming=True),
    Reason.TRAVERSAL: Rule(Reason.TRAVERSAL, 3600, 1, streaming=True),
    Reason.INJECTION: Rule(Reason.INJECTION, 3600, 1, streaming=True),
    Reason.SCANNER: Rule(Reason.SCANNER, 3600, 1, streaming=True),
    Reason.NOT_FOUND: Rule(Reason.NOT_FOUND, 60, 15, streaming=True),
    # Volume counts every request of every client: a window per client per batch would cost
    # the drain more than all other rules together, and an hour's volume is the scan's job.
    Reason.HIGH_VOLUME: Rule(Reason.HIGH_VOLUME, 3600, 1000, streaming=False),
    Reason.SENSITIVE: Rule(Reason.SENSITIVE, 3600, 20, streaming=False),
    Reason.RATE_LIMITED: Rule(Reason.RATE_LIMITED, 600, 5, streaming=True),
    Reason.CACHE_BUSTING: Rule(Reason.CACHE_BUSTING, 3600, 50, streaming=True),
    Reason.UA_ROTATION: Rule(Reason.UA_ROTATION, 3600, 6, streaming=True),
}
# The hourly scan counts distinct 404 paths over the hour with its own threshold.
HOURLY_NOT_FOUND_THRESHOLD = 20
SENSITIVE_DENIED_THRESHOLD = 3
SIGNATURE_RULES = (Reason.EXPLOIT, Reason.PROBE, Reason.TRAVERSAL, Reason.INJECTION, Reason.SCANNER)
# Settings that existed before SECURITY_DETECT_RULES keep working.
LEGACY_THRESHOLDS = {
    Reason.HIGH_VOLUME: "SECURITY_DETECT_VOLUME_THRESHOLD",
    Reason.SENSITIVE: "SECURITY_DETECT_SENSITIVE_THRESHOLD",
    Reason.RATE_LIMITED: "SECURITY_DETECT_RATE_LIMITED_THRESHOLD",
}


def rules() -> dict[str, Rule]:
    overrides = getattr(settings, "SECURITY_DETECT_RULES", {})
    result = {}
    for reason, rule in DEFAULT_RULES.items():
        legacy = getattr(settings, LEGACY_THRESHOLDS.get(reason, ""), None)
        if legacy is not None:
            rule = replace(rule, threshold=int(legacy))
        result[reason] = replace(rule, **overrides.get(str(reason), {}))
    return result


def hourly_not_found_threshold() -> int:
    return int(getattr(settings, "SECURITY_DETECT_NOT_FOUND_THRESHOLD", HOURLY_NOT_FOUND_THRESHOLD))


class Signal(NamedTuple):
    reason: str
    signature: str


def is_static_asset(path: str) -> bool:
    return path.casefold().endswith(STATIC_ASSET_SUFFIXES) or "/apple-touch-icon" in path


def _first(reason: str, checks: list[tuple[str, str]]) -> Signal | None:
    lists = signatures.current()
    for list_name, text in checks:
        if text and (entry := lists[list_name].match(text)):
            return Signal(reason, f"{list_name}: {entry}")
    return None


# Paths and user agents repeat across requests, so their verdicts are cached; a query string
# is checked only when there is one.
@lru_cache(maxsize=65536)
def path_signals(path: str, lists_key: int) -> dict[str, Signal]:
    normalised = signatures.normalise_path(path)
    decoded = signatures.decode(path)
    found = {
        Reason.EXPLOIT: _first(
            Reason.EXPLOIT,
            [("backdoors", normalised), ("cve_uris", normalised), ("cve_uris", decoded)],
        ),
        Reason.PROBE: _first(
            Reason.PROBE, [("sensitive_files", normalised), ("admin_interfaces", normalised)]
        ),
        Reason.TRAVERSAL: _first(Reason.TRAVERSAL, [("traversal", decoded)]),
        Reason.INJECTION: _first(Reason.INJECTION, [("injection", decoded)]),
    }
    return {reason: signal for reason, signal in found.items() if signal is not None}


@lru_cache(maxsize=16384)
def agent_signals(user_agent: str, lists_key: int) -> dict[str, Signal]:
    found = {
        Reason.INJECTION: _first(Reason.INJECTION, [("injection", user_agent)]),
        Reason.SCANNER: _first(Reason.SCANNER, [("scanner_user_agents", user_agent.casefold())]),
    }
    return {reason: signal for reason, signal in found.items() if signal is not None}


def query_signals(path: str, query: str) -> dict[str, Signal]:
    decoded = signatures.decode(query)
    normalised = signatures.normalise_path(path)
    found = {
        Reason.EXPLOIT: _first(
            Reason.EXPLOIT,
            [
                ("cve_uris", f"{normalised}?{decoded}"),
                ("cve_uris", f"{signatures.decode(path)}?{decoded}"),
            ],
        ),
        Reason.PROBE: _first(Reason.PROBE, [("probe_queries", "?" + decoded)]),
        Reason.TRAVERSAL: _first(Reason.TRAVERSAL, [("traversal", decoded)]),
        Reason.INJECTION: _first(Reason.INJECTION, [("injection", decoded)]),
    }
    return {reason: signal for reason, signal in found.items() if signal is not None}


def signature_signals(path: str, query: str, user_agent: str) -> list[Signal]:
    """What the signature lists say about one request (at most one signal per rule; the
    path's, then the query's, then the user agent's)."""
    key = signatures.lists_key()
    found = dict(path_signals(path, key))
    if query:
        for reason, signal in query_signals(path, query).items():
            found.setdefault(reason, signal)
    if user_agent:
        for reason, signal in agent_signals(user_agent, key).items():
            found.setdefault(reason, signal)
    return list(found.values())
