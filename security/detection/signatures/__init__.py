"""Signature lists as data (the .txt files beside this module), compiled once per process, and
the normalisation that stops `//.env`, `/./.git/config`, `/x/../wp-login.php`, `/%2e%2e/` and
`/WP-ADMIN/` from walking past them."""

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, unquote_plus

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

HERE = Path(__file__).resolve().parent

# List name -> (file, how it is matched).
NAME_LISTS = ("sensitive_files", "admin_interfaces", "backdoors")
FRAGMENT_LISTS = ("cve_uris", "traversal", "scanner_user_agents", "probe_queries")
REGEX_LISTS = ("injection",)
FILES = {
    "sensitive_files": "sensitive_files.txt",
    "admin_interfaces": "admin_interfaces.txt",
    "backdoors": "backdoors.txt",
    "cve_uris": "cve_uris.txt",
    "traversal": "traversal.txt",
    "scanner_user_agents": "scanner_user_agents.txt",
    "injection": "injection.regex.txt",
    "probe_queries": "probe_queries.txt",
}
MULTIPLE_SLASHES = re.compile(r"/{2,}")


def read_list(name: str) -> list[str]:
    entries = []
    for line in (HERE / FILES[name]).read_text(encoding="utf-8").splitlines():
        entry = line.strip() if name in REGEX_LISTS else line.split("#", 1)[0].strip()
        if entry and not entry.startswith("#"):
            entries.append(entry)
    return entries


def entries(name: str) -> list[str]:
    """The shipped list plus SECURITY_DETECT_EXTRA_SIGNATURES, less the ignored entries."""
    extra = getattr(settings, "SECURITY_DETECT_EXTRA_SIGNATURES", {}).get(name, [])
    ignored = set(getattr(settings, "SECURITY_DETECT_IGNORED_SIGNATURES", {}).get(name, []))
    return [entry for entry in [*read_list(name), *extra] if entry not in ignored]


def decode(text: str) -> str:
    """Percent-decode twice (double encoding), `\\` to `/`, case-folded."""
    once = unquote_plus(text, errors="replace")
    return unquote(once, errors="replace").replace("\\", "/").casefold()


def normalise_path(path: str) -> str:
    """What a path names once decoded: `//` collapsed, `.` and `..` resolved, case-folded."""
    decoded = MULTIPLE_SLASHES.sub("/", decode(path))
    resolved = posixpath.normpath("/" + decoded.lstrip("/"))
    if decoded.endswith("/") and resolved != "/":
        resolved += "/"
    return resolved.replace("//", "/")


@dataclass(frozen=True)
class Matcher:
    """One compiled list: `match(text)` is the entry that matched, or None."""

    name: str
    pattern: re.Pattern
    entries: tuple[str, ...]

    def match(self, text: str) -> str | None:
        found = self.pattern.search(text)
        if found is None:
            return None
        if self.name in REGEX_LISTS:
            return found.group(0)[:200]
        return found.group("entry")


def compile_list(name: str) -> Matcher:
    items = tuple(dict.fromkeys(entries(name)))
    if not items:
        return Matcher(name, re.compile(r"(?!)"), items)
    if name in REGEX_LISTS:
        return Matcher(name, re.compile("|".join(f"(?:{p})" for p in items), re.I), items)
    alternatives = "|".join(
        re.escape(item.casefold()) for item in sorted(items, key=len, reverse=True)
    )
    if name in NAME_LISTS:
        # A file or folder name wherever it stands, with backup suffixes (.bak, ~, .old, -1).
        pattern = rf"(?:^|/)(?P<entry>{alternatives})(?:[.~_-][^/]*)?(?:/|$)"
    else:
        pattern = rf"(?P<entry>{alternatives})"
    return Matcher(name, re.compile(pattern), items)


@lru_cache(maxsize=1)
def _compiled(extra_key: str) -> dict[str, Matcher]:
    return {name: compile_list(name) for name in FILES}


NOTHING: dict = {}
LIST_SETTINGS = ("SECURITY_DETECT_EXTRA_SIGNATURES", "SECURITY_DETECT_IGNORED_SIGNATURES")


class _Current:
    lists: dict[str, Matcher] | None = None


def matchers() -> dict[str, Matcher]:
    """The compiled lists: the settings are read once, and again after one of them changes
    (setting_changed), not on every request that asks."""
    if _Current.lists is None:
        extra = getattr(settings, LIST_SETTINGS[0], NOTHING)
        ignored = getattr(settings, LIST_SETTINGS[1], NOTHING)
        _Current.lists = _compiled(repr((extra, ignored)))
    return _Current.lists


@receiver(setting_changed)
def _forget_lists(*, setting: str, **kwargs: object) -> None:
    if setting in LIST_SETTINGS:
        _Current.lists = None


def lists_key() -> int:
    """Changes whenever the compiled lists do: part of the cache keys of verdicts."""
    return id(matchers())


def current() -> dict[str, Matcher]:
    return matchers()
