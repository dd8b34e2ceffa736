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

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings

from ..models import SuspicionReason as Reason
from . import detectors, signatures, transforms
from .config import detect_conf

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
TRAVERSAL_FAMILIES = ("traversal", "nul")
SESSION_IN_PATH = re.compile(r";(?:jsessionid|phpsessid|aspsessionid\w{0,20}|sid)=")
SIGNATURE_RULES = (Reason.EXPLOIT, Reason.PROBE, Reason.TRAVERSAL, Reason.INJECTION, Reason.SCANNER)
# Settings that existed before SECURITY_DETECT_RULES keep working.
LEGACY_THRESHOLDS = {
    Reason.HIGH_VOLUME: "SECURITY_DETECT_VOLUME_THRESHOLD",
    Reason.SENSITIVE: "SECURITY_DETECT_SENSITIVE_THRESHOLD",
    Reason.RATE_LIMITED: "SECURITY_DETECT_RATE_LIMITED_THRESHOLD",
}


def rules() -> dict[Reason, Rule]:
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


def is_plain_visit(method: str, status: int) -> bool:
    """A GET or HEAD that was answered 2xx: a page seen, not an attempt at it."""
    return method in ("GET", "HEAD") and status < 300


def is_static_asset(path: str) -> bool:
    return path.casefold().endswith(STATIC_ASSET_SUFFIXES) or "/apple-touch-icon" in path


def _first(reason: str, checks: list[tuple[str, str]]) -> Signal | None:
    lists = signatures.current()
    for list_name, text in checks:
        if text and (entry := lists[list_name].match(text)):
            return Signal(reason, f"{list_name}: {entry}")
    return None


def _signal(hit: detectors.Hit | None, where: str) -> Signal | None:
    if hit is None:
        return None
    reason = Reason.TRAVERSAL if hit.family in TRAVERSAL_FAMILIES else Reason.INJECTION
    return Signal(reason, f"{hit.family} in {where}: {hit.evidence}")


def _merge(found: dict[str, Signal], *signals: Signal | None) -> dict[str, Signal]:
    for signal in signals:
        if signal is not None:
            found.setdefault(signal.reason, signal)
    return found


# Paths and user agents repeat across requests, so their verdicts are cached; a query string
# is checked only when there is one.
@lru_cache(maxsize=65536)
def path_signals(path: str, lists_key: int) -> dict[str, Signal]:
    bare = transforms.strip_path_parameters(path)
    normalised = signatures.normalise_path(bare)
    decoded = signatures.decode(bare)
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
    kept: dict[str, Signal] = {r: sig for r, sig in found.items() if sig is not None}
    field = transforms.normalise(path)
    hit = detectors.inspect(field)
    if hit is None and (session := SESSION_IN_PATH.search(field.text)):
        hit = detectors.Hit("session_fixation", session.group(0))
    return _merge(kept, _signal(hit, "path"))


@lru_cache(maxsize=16384)
def agent_signals(user_agent: str, lists_key: int) -> dict[str, Signal]:
    found = {
        Reason.INJECTION: _first(Reason.INJECTION, [("injection", user_agent)]),
        Reason.SCANNER: _first(Reason.SCANNER, [("scanner_user_agents", user_agent.casefold())]),
    }
    kept: dict[str, Signal] = {r: sig for r, sig in found.items() if sig is not None}
    return _merge(kept, _signal(detectors.inspect(transforms.normalise(user_agent)), "user agent"))


def parameter_signals(query: str, where: str) -> list[Signal | None]:
    return [
        _signal(detectors.inspect_parameter(name, value), where)
        for name, value in transforms.query_fields(query)
    ]


def query_signals(path: str, query: str) -> dict[str, Signal]:
    decoded = signatures.decode(query)
    bare = transforms.strip_path_parameters(path)
    normalised = signatures.normalise_path(bare)
    found = {
        Reason.EXPLOIT: _first(
            Reason.EXPLOIT,
            [
                ("cve_uris", f"{normalised}?{decoded}"),
                ("cve_uris", f"{signatures.decode(bare)}?{decoded}"),
            ],
        ),
        Reason.PROBE: _first(Reason.PROBE, [("probe_queries", "?" + decoded)]),
        Reason.TRAVERSAL: _first(Reason.TRAVERSAL, [("traversal", decoded)]),
        Reason.INJECTION: _first(Reason.INJECTION, [("injection", decoded)]),
    }
    kept: dict[str, Signal] = {r: sig for r, sig in found.items() if sig is not None}
    return _merge(kept, *parameter_signals(query, "query"))


@lru_cache(maxsize=16384)
def referer_signals(referer: str) -> dict[str, Signal]:
    """A payload in the referer: its path and each of its parameters (the lists of paths are
    not applied: a referer names another site's pages)."""
    path, query = transforms.referer_parts(referer)
    found: dict[str, Signal] = {}
    if path:
        _merge(found, _signal(detectors.inspect(transforms.normalise(path)), "referer"))
    return _merge(found, *parameter_signals(query, "referer"))


def request_signals(method: str, path: str, status: int) -> Signal | None:
    """Rules that need no list: a method the site never serves, a technology it does not run."""
    if method.upper() not in detect_conf.SERVED_METHODS:
        return Signal(Reason.PROBE, f"method: {method.upper()[:16]}")
    if status == 404:
        bare = transforms.strip_path_parameters(path).casefold().rstrip("/")
        suffixes = detect_conf.UNSERVED_SUFFIXES
        if bare.endswith(suffixes):
            suffix = next(s for s in suffixes if bare.endswith(s))
            return Signal(Reason.PROBE, f"unserved: {suffix}")
    return None


def signature_signals(
    path: str,
    query: str,
    user_agent: str,
    referer: str = "",
    method: str = "GET",
    status: int = 200,
) -> list[Signal]:
    """What the signatures say about one request (at most one signal per rule; the path's,
    then the query's, the user agent's, the referer's, then the method's and the status's)."""
    key = signatures.lists_key()
    found = dict(path_signals(path, key))
    if query:
        for reason, signal in query_signals(path, query).items():
            found.setdefault(reason, signal)
    if user_agent:
        for reason, signal in agent_signals(user_agent, key).items():
            found.setdefault(reason, signal)
    if referer:
        for reason, signal in referer_signals(referer).items():
            found.setdefault(reason, signal)
    _merge(found, request_signals(method, path, status))
    return list(found.values())
