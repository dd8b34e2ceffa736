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
| high_volume   | requests of anonymous clients                             | 1 h    | 1000      |
| sensitive     | requests to /admin, /login... (hourly: or 3 answered 4xx) | 1 h    | 20        |
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
    Reason.HIGH_VOLUME: Rule(Reason.HIGH_VOLUME, 3600, 1000, streaming=True),
    Reason.SENSITIVE: Rule(Reason.SENSITIVE, 3600, 20, streaming=True),
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


def signature_signals(path: str, query: str, user_agent: str) -> list[Signal]:
    """What the signature lists say about one request (at most one signal per rule)."""
    lists = signatures.matchers()
    normalised = signatures.normalise_path(path)
    decoded_path = signatures.decode(path)
    decoded_query = signatures.decode(query) if query else ""
    with_query = f"{normalised}?{decoded_query}" if query else normalised
    raw_with_query = f"{decoded_path}?{decoded_query}" if query else decoded_path
    found: list[Signal] = []

    def first(reason: str, checks: list[tuple[str, str]]) -> None:
        for list_name, text in checks:
            if text and (entry := lists[list_name].match(text)):
                found.append(Signal(reason, f"{list_name}: {entry}"))
                return

    first(
        Reason.EXPLOIT,
        [("backdoors", normalised), ("cve_uris", with_query), ("cve_uris", raw_with_query)],
    )
    first(
        Reason.PROBE,
        [
            ("sensitive_files", normalised),
            ("admin_interfaces", normalised),
            ("probe_queries", "?" + decoded_query if query else ""),
        ],
    )
    first(Reason.TRAVERSAL, [("traversal", decoded_path), ("traversal", decoded_query)])
    first(
        Reason.INJECTION,
        [("injection", decoded_query), ("injection", decoded_path), ("injection", user_agent)],
    )
    first(Reason.SCANNER, [("scanner_user_agents", user_agent.casefold())])
    return found
