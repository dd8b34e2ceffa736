"""Secrets never reach the log: whoever may read request logs must not be able to sign in as
the people in them.

A password-reset link carries a live token in its path (`/reset/<uidb64>/<token>/`), and many
links carry one in the query (`?token=`, `?code=`, `?signature=`, `?X-Amz-Signature=`). They
are masked here, on the web process, before a record is buffered, so no stream entry, row,
rollup, evidence sample, export or alert ever holds them:

- query parameters whose name is, or is made of, a word of SECURITY_LOG_MASKED_PARAMETERS
  (`token`, `reset_token`, `accessToken`, `X-Amz-Signature`; not `keyword`), in the query
  string and in the Referer's;
- the values of URL keyword arguments named in SECURITY_LOG_MASKED_URL_KWARGS, taken from the
  resolved URL (Django's `password_reset_confirm` names its token `token`);
- path segments matching SECURITY_LOG_MASKED_PATH_PATTERNS, for requests that never resolved
  (refused by the blocklist, 404) and for the Referer: by default Django's reset tokens and
  signed values (`signing.dumps`, `TimestampSigner`).

A request without a query string, keyword arguments, `-` or `:` in its path costs three
membership tests (with the default path patterns: a site's own are asked of every path); a path
or Referer already seen unchanged, one more.
"""

import re
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from ..conf import conf
from ..defaults import DEFAULT_MASKED_PATH_PATTERNS

MASK = "[masked]"
# Django's reset view swaps the token for this constant right away (PasswordResetConfirmView).
NOT_SECRET = frozenset({"set-password"})
WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")
MASK_SETTINGS = {
    "SECURITY_LOG_MASKED_PARAMETERS",
    "SECURITY_LOG_MASKED_URL_KWARGS",
    "SECURITY_LOG_MASKED_PATH_PATTERNS",
}


class Masking(NamedTuple):
    words: frozenset[str]
    # A cheap first look at a lower-cased query: does any masked word occur at all?
    hint: re.Pattern
    url_kwargs: frozenset[str]
    path_patterns: re.Pattern | None
    # Every default pattern needs a "-" or ":", so a path with neither is not asked of them; a
    # site's own patterns may match anything, and are asked of every path.
    every_path: bool


@lru_cache(maxsize=1)
def masking() -> Masking:
    words = frozenset(word.lower() for word in conf.LOG_MASKED_PARAMETERS)
    hint = re.compile("|".join(re.escape(word) for word in sorted(words)) or r"(?!)")
    patterns = conf.LOG_MASKED_PATH_PATTERNS
    joined = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
    every_path = patterns != DEFAULT_MASKED_PATH_PATTERNS
    return Masking(words, hint, frozenset(conf.LOG_MASKED_URL_KWARGS), joined, every_path)


def path_may_hold_secret(path: str) -> bool:
    """Whether mask_path_patterns could change path (build_record asks before it calls)."""
    return "-" in path or ":" in path or masking().every_path


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in MASK_SETTINGS:
        masking.cache_clear()
        is_secret_name.cache_clear()
        _unchanged.clear()
        unchanged_urls.clear()


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    words = masking().words
    plain = unquote_plus(name).strip()
    if plain.lower() in words or plain.lower().replace("-", "").replace("_", "") in words:
        return True
    return any(part.lower() in words for part in WORD.findall(plain))


def mask_query(query: str) -> str:
    """The query string with the values of secret-named parameters replaced by [masked]."""
    if not query or masking().hint.search(query.lower()) is None:
        return query
    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and is_secret_name(name):
            parts[index] = f"{name}={MASK}"
            changed = True
    return "&".join(parts) if changed else query


# Paths and referers that the patterns left unchanged, seen again on most requests (every
# absolute Referer has the scheme's ':'; the scan costs 5,000 instructions). Only text that
# holds no secret is kept, and only short text; emptied when full or when the settings change.
UNCHANGED_LIMIT = 4096
UNCHANGED_TEXT_LIMIT = 512
_unchanged: set[str] = set()
# Whole Referer URLs that mask_url left unchanged (apart: a path holding a decoded `?` is not
# a URL with a query). build_record looks here before it calls mask_url.
unchanged_urls: set[str] = set()


def _remember_unchanged(seen: set[str], text: str) -> None:
    if len(text) <= UNCHANGED_TEXT_LIMIT:
        if len(seen) >= UNCHANGED_LIMIT:
            seen.clear()
        seen.add(text)


def mask_path_patterns(path: str) -> str:
    patterns = masking().path_patterns
    if patterns is None or not path_may_hold_secret(path) or path in _unchanged:
        return path
    masked = patterns.sub(MASK, path)
    if masked == path:
        _remember_unchanged(_unchanged, path)
    return masked


def mask_path(request: HttpRequest, path: str) -> str:
    match = request.__dict__.get("resolver_match")
    if match is not None and match.kwargs:
        names = masking().url_kwargs
        for name, value in match.kwargs.items():
            text = str(value)
            if name in names and text and text not in NOT_SECRET:
                path = replace_segment(path, text)
    return mask_path_patterns(path)


def replace_segment(path: str, value: str) -> str:
    """Replace the path segment (or the end of one) that carries value."""
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if segment == value or (segment.endswith(value) and len(value) >= 8):
            segments[index] = segment[: len(segment) - len(value)] + MASK
    return "/".join(segments)


def mask_url(url: str) -> str:
    """A full URL (the Referer): its query and its path, by pattern."""
    if not url or url in unchanged_urls:
        return url
    head, question, query = url.partition("?")
    head = mask_path_patterns(head)
    masked = f"{head}?{mask_query(query)}" if question else head
    if masked == url:
        _remember_unchanged(unchanged_urls, url)
    return masked
