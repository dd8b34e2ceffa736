"""Refusing exploits at request time (SECURITY_DETECT_INLINE, off by default).

The blocklist middleware asks refusal() for each request it lets through. With
SECURITY_DETECT_INLINE = True, a request whose path, query, user agent or referer carries a
high-confidence signature (the exploit, traversal and injection rules: the same verdicts the
drain's detection reaches) is answered 403 before the view runs; with "observe", it is served
and logged as one that would have been refused. Either way the record goes to the log as usual,
so streaming detection flags the client for that rule (and SECURITY_AUTO_BLOCK blocks it).

Probes and counting rules never refuse inline: a probe is answered 404 by the site anyway, and a
count needs more than one request. Exempt clients (SECURITY_DETECT_EXEMPT...), allowlisted
addresses and switched-off rules are never refused. The request's user is not known yet here
(authentication runs later), so staff are not exempt.
"""

import logging
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from ..blocking.blocklist import is_allowlisted
from ..requestlog import masking
from . import exemptions, registry, signatures, verdicts
from .builtin_rules import Exploit, Injection, Traversal

logger = logging.getLogger(__name__)

REFUSING_RULES = frozenset((Exploit.reason, Traversal.reason, Injection.reason))
OFF, OBSERVE, REFUSE = "off", "observe", "refuse"


class Refusal(NamedTuple):
    rule: str
    signature: str
    refused: bool  # False in observe mode: logged only


class Mode:
    # Read as `Mode.current or mode()` on the request path: an attribute, no call, once known.
    current: str | None = None


def mode() -> str:
    """OFF, OBSERVE or REFUSE, read from the settings once (the hot path asks every request)."""
    if Mode.current is None:
        setting = getattr(settings, "SECURITY_DETECT_INLINE", False)
        Mode.current = OBSERVE if setting == "observe" else REFUSE if setting is True else OFF
    return Mode.current


@receiver(setting_changed)
def _forget_mode(*, setting: str, **kwargs: object) -> None:
    if setting == "SECURITY_DETECT_INLINE":
        Mode.current = None


def verdict(path: str, query: str, user_agent: str, referer: str) -> verdicts.Signal | None:
    """The first refusing rule's signal on these values, or None."""
    for signal in verdicts.signature_signals(path, query, user_agent, referer):
        if signal.reason in REFUSING_RULES:
            return signal
    return None


# A site's requests repeat (the same pages, browsers and referers): their verdicts are cached
# whole, so a clean request costs one lookup. Long values are read each time, so that a client
# sending ever-new long URLs cannot fill memory.
CACHED_LENGTH = 1024


@lru_cache(maxsize=16384)
def _cached_verdict(
    path: str, query: str, user_agent: str, referer: str, lists_key: int
) -> verdicts.Signal | None:
    return verdict(path, query, user_agent, referer)


def refusal(request: HttpRequest, ip: str) -> Refusal | None:
    """What inline detection does with this request (None: serve it, say nothing)."""
    current = mode()
    if current == OFF:
        return None
    meta = request.META
    path, query = request.path, meta.get("QUERY_STRING", "")
    user_agent, referer = meta.get("HTTP_USER_AGENT", ""), meta.get("HTTP_REFERER", "")
    if len(path) + len(query) + len(user_agent) + len(referer) <= CACHED_LENGTH:
        signal = _cached_verdict(path, query, user_agent, referer, signatures.lists_key())
    else:
        signal = verdict(path, query, user_agent, referer)
    # Rare from here on: a matching request.
    if signal is None or signal.reason not in registry.enabled():
        return None
    if is_allowlisted(ip) or exemptions.current().covers(ip, user_agent):
        return None
    # What the warning says is read off the values as the log stores them (secrets masked), as
    # the drain's detection will read them.
    path = masking.mask_path(request, path)
    masked = verdict(path, masking.mask_query(query), user_agent, masking.mask_url(referer))
    signature = masked.signature if masked is not None else "(in a value the log masks)"
    found = Refusal(signal.reason, signature, refused=current == REFUSE)
    logger.warning(
        "%s %s %s %s: %s (%s)",
        "refused" if found.refused else "would refuse (SECURITY_DETECT_INLINE = 'observe')",
        ip,
        request.method,
        path[:200],
        found.rule,
        found.signature[:200],
    )
    return found
