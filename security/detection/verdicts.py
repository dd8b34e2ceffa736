"""The signature rules' verdicts on one request: which of exploit, probe, traversal, injection
and scanner (builtin_rules.py) its path, query parameters, user agent, referer, method and
status show, with the entry or detector that matched. The drain's streaming detection and the
hourly scan both ask here, so they agree.

Requests the blocklist turned away never count (a ban must not feed the next ban), nor do
staff users' requests, allowlisted addresses or exempt clients: the callers leave them out.
"""

import re
from functools import lru_cache
from typing import NamedTuple

from . import detectors, signatures, transforms
from .builtin_rules import Exploit, Injection, Probe, Scanner, Traversal
from .config import served_methods, unserved_suffixes

TRAVERSAL_FAMILIES = ("traversal", "nul")
SESSION_IN_PATH = re.compile(r";(?:jsessionid|phpsessid|aspsessionid\w{0,20}|sid)=")


class Signal(NamedTuple):
    reason: str
    signature: str


def _first(reason: str, checks: list[tuple[str, str]]) -> Signal | None:
    lists = signatures.current()
    for list_name, text in checks:
        if text and (entry := lists[list_name].match(text)):
            return Signal(reason, f"{list_name}: {entry}")
    return None


def _signal(hit: detectors.Hit | None, where: str) -> Signal | None:
    if hit is None:
        return None
    reason = Traversal.reason if hit.family in TRAVERSAL_FAMILIES else Injection.reason
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
        Exploit.reason: _first(
            Exploit.reason,
            [("backdoors", normalised), ("cve_uris", normalised), ("cve_uris", decoded)],
        ),
        Probe.reason: _first(
            Probe.reason, [("sensitive_files", normalised), ("admin_interfaces", normalised)]
        ),
        Traversal.reason: _first(Traversal.reason, [("traversal", decoded)]),
        Injection.reason: _first(Injection.reason, [("injection", decoded)]),
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
        Injection.reason: _first(Injection.reason, [("injection", user_agent)]),
        Scanner.reason: _first(Scanner.reason, [("scanner_user_agents", user_agent.casefold())]),
    }
    kept: dict[str, Signal] = {r: sig for r, sig in found.items() if sig is not None}
    return _merge(kept, _signal(detectors.inspect(transforms.normalise(user_agent)), "user agent"))


def parameter_signals(query: str, where: str) -> list[Signal | None]:
    return [
        _signal(detectors.inspect_parameter(name, value), where)
        for name, value in transforms.query_fields(query)
    ]


# Short query strings repeat (pages, sorting, searches) and are cached like paths; a long one
# is read each time, so that a cache-busting client cannot fill memory with its queries.
CACHED_QUERY_LENGTH = 256


@lru_cache(maxsize=16384)
def cached_query_signals(path: str, query: str, lists_key: int) -> dict[str, Signal]:
    return query_signals(path, query)


def query_signals(path: str, query: str) -> dict[str, Signal]:
    decoded = signatures.decode(query)
    bare = transforms.strip_path_parameters(path)
    normalised = signatures.normalise_path(bare)
    found = {
        Exploit.reason: _first(
            Exploit.reason,
            [
                ("cve_uris", f"{normalised}?{decoded}"),
                ("cve_uris", f"{signatures.decode(bare)}?{decoded}"),
            ],
        ),
        Probe.reason: _first(Probe.reason, [("probe_queries", "?" + decoded)]),
        Traversal.reason: _first(Traversal.reason, [("traversal", decoded)]),
        Injection.reason: _first(Injection.reason, [("injection", decoded)]),
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
    """Rules that need no list: a method the site never serves, a request meant for a proxy, a
    technology the site does not run."""
    if method.upper() not in served_methods():
        return Signal(Probe.reason, f"method: {method.upper()[:16]}")
    if path[:1] != "/":
        # An absolute target (records.requested_path): asked of a proxy, not of this site.
        return Signal(Probe.reason, f"proxy request: {path[:80]}")
    if status == 404:
        bare = transforms.strip_path_parameters(path).casefold().rstrip("/")
        suffixes = unserved_suffixes()
        if bare.endswith(suffixes):
            suffix = next(s for s in suffixes if bare.endswith(s))
            return Signal(Probe.reason, f"unserved: {suffix}")
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
        found_in_query = (
            cached_query_signals(path, query, key)
            if len(query) <= CACHED_QUERY_LENGTH
            else query_signals(path, query)
        )
        for reason, signal in found_in_query.items():
            found.setdefault(reason, signal)
    if user_agent:
        for reason, signal in agent_signals(user_agent, key).items():
            found.setdefault(reason, signal)
    if referer:
        for reason, signal in referer_signals(referer).items():
            found.setdefault(reason, signal)
    _merge(found, request_signals(method, path, status))
    return list(found.values())
