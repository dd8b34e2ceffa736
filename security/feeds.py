"""Threat feeds: named lists of networks to block, fetched and refreshed on a schedule.

    SECURITY_FEEDS = {
        "firehol_level1": {"url": "https://.../firehol_level1.netset", "refresh": "6h"},
        "ipsum_3": {"url": "https://.../ipsum.txt", "min_count": 3},
        "spamhaus_drop": {"url": "https://www.spamhaus.org/drop/drop.txt", "format": "spamhaus"},
        "aws_ec2_eu": {"url": "https://ip-ranges.amazonaws.com/ip-ranges.json", "format": "aws",
                       "services": ["EC2"], "regions": ["eu-west-1"]},
        "gcp": {"url": "https://www.gstatic.com/ipranges/cloud.json", "format": "gcp"},
        "local": {"file": "/etc/site/blocklist.txt"},
    }

A feed's blocks carry its name (source "feed"). A refresh replaces that feed's entries in one
transaction: what left the feed is unblocked, manual and automatic blocks are never touched,
and the allowlist still wins. A feed that fails to download or parse (HTTP error, truncated
file, a line that is not an address, no entries at all, more than its cap) leaves the previous
entries in place and says so once in the log.
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import blocklist
from .addresses import InvalidInput, parse_target
from .models import BlockedIP, BlockSource, FeedState
from .targets import parse_duration

logger = logging.getLogger(__name__)

FORMATS = ("plain", "spamhaus", "aws", "gcp")
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
CHUNK = 5000


class FeedError(Exception):
    pass


@dataclass(frozen=True)
class Feed:
    name: str
    url: str = ""
    file: str = ""
    format: str = "plain"
    refresh: str = "24h"
    max_entries: int = 1_000_000
    min_count: int = 1  # ipsum-style lists: "address<TAB>count"
    services: tuple[str, ...] = ()  # aws / gcp
    regions: tuple[str, ...] = ()  # aws region, gcp scope

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise FeedError(f"feed name {self.name!r} must be 1 to 64 characters")
        if bool(self.url) == bool(self.file):
            raise FeedError(f"feed {self.name}: give exactly one of url and file")
        if self.format not in FORMATS:
            raise FeedError(f"feed {self.name}: format must be one of {', '.join(FORMATS)}")
        try:
            parse_duration(self.refresh)
        except InvalidInput as error:
            raise FeedError(f"feed {self.name}: refresh {error}") from error


def make_feed(name: str, options: dict) -> Feed:
    known = set(Feed.__dataclass_fields__) - {"name"}
    unknown = set(options) - known
    if unknown:
        raise FeedError(f"feed {name}: unknown option(s) {', '.join(sorted(unknown))}")
    values = dict(options)
    for key in ("services", "regions"):
        if key in values:
            values[key] = tuple(values[key])
    return Feed(name=name, **values)


def configured_feeds() -> dict[str, Feed]:
    return {
        name: make_feed(name, options)
        for name, options in getattr(settings, "SECURITY_FEEDS", {}).items()
    }


# --- Fetching -----------------------------------------------------------------------------------


def fetch_text(feed: Feed) -> str:
    if feed.file:
        try:
            return Path(feed.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FeedError(f"cannot read {feed.file}: {error}") from error
    try:
        with requests.get(feed.url, stream=True, timeout=(5, 30)) as response:
            if response.status_code != 200:
                raise FeedError(f"{feed.url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) > MAX_DOWNLOAD_BYTES:
                    raise FeedError(f"{feed.url} is larger than {MAX_DOWNLOAD_BYTES:,} bytes")
    except requests.RequestException as error:
        raise FeedError(f"cannot download {feed.url}: {type(error).__name__}") from error
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FeedError(f"{feed.url} is not UTF-8 text") from error


# --- Parsing ------------------------------------------------------------------------------------


def plain_entries(text: str, min_count: int) -> Iterable[tuple[int, str]]:
    """Address/CIDR lines; `#` and `;` start comments (FireHOL, Spamhaus DROP); an ipsum line
    is `address<TAB>count` and counts below min_count are left out."""
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not content:
            continue
        fields = content.split()
        if len(fields) > 1 and fields[1].isdigit() and int(fields[1]) < min_count:
            continue
        yield number, fields[0]


def cloud_entries(text: str, feed: Feed) -> Iterable[tuple[int, str]]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise FeedError(
            f"not JSON ({error.__class__.__name__}): truncated or not a {feed.format} file"
        ) from error
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise FeedError(f"no 'prefixes' list: not a {feed.format} ranges file")
    items = list(document["prefixes"])
    if feed.format == "aws":
        items += document.get("ipv6_prefixes", [])
        keys, where = ("ip_prefix", "ipv6_prefix"), "region"
    else:
        keys, where = ("ipv4Prefix", "ipv6Prefix"), "scope"
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise FeedError(f"entry {number} is not an object")
        if feed.services and item.get("service") not in feed.services:
            continue
        if feed.regions and item.get(where) not in feed.regions:
            continue
        prefix = next((item[key] for key in keys if key in item), None)
        if not isinstance(prefix, str):
            raise FeedError(f"entry {number} has no prefix")
        yield number, prefix


def parse_feed(text: str, feed: Feed) -> list[str]:
    raw = (
        cloud_entries(text, feed)
        if feed.format in ("aws", "gcp")
        else plain_entries(text, feed.min_count)
    )
    entries: dict[str, None] = {}
    for number, value in raw:
        try:
            # Curated lists name wide bogon ranges on purpose (FireHOL: 224.0.0.0/3); only
            # "everything" is refused: a feed that blocks the world is a broken feed.
            entry = parse_target(value, allow_huge=True)
        except InvalidInput as error:
            raise FeedError(f"line {number}: {error}") from error
        if entry.endswith("/0"):
            raise FeedError(f"line {number}: {entry} would block every address")
        entries[entry] = None
        if len(entries) > feed.max_entries:
            raise FeedError(f"more than {feed.max_entries:,} entries (its max_entries)")
    if not entries:
        # An empty download must never unblock a whole feed.
        raise FeedError("no entries: empty, truncated or filtered to nothing")
    return list(entries)


# --- Applying -----------------------------------------------------------------------------------


@dataclass
class FeedResult:
    name: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    total: int = 0


def current_entries(name: str) -> set[str]:
    return set(
        BlockedIP.objects.filter(source=BlockSource.FEED, feed=name).values_list(
            "ip_address", flat=True
        )
    )


def replace_entries(name: str, entries: list[str]) -> FeedResult:
    """The feed's blocks become exactly `entries`, in one transaction, leaving every block of
    another source alone (an address already blocked by hand stays the operator's)."""
    with transaction.atomic():
        current = current_entries(name)
        wanted = set(entries)
        added = [entry for entry in entries if entry not in current]
        removed = sorted(current - wanted)
        for start in range(0, len(removed), CHUNK):
            BlockedIP.objects.filter(
                source=BlockSource.FEED, feed=name, ip_address__in=removed[start : start + CHUNK]
            ).delete()
        now = timezone.now()
        BlockedIP.objects.bulk_create(
            (
                BlockedIP(
                    ip_address=entry,
                    reason=f"threat feed {name}",
                    source=BlockSource.FEED,
                    feed=name,
                    created_at=now,
                )
                for entry in added
            ),
            batch_size=CHUNK,
            ignore_conflicts=True,
        )
        if added or removed:
            blocklist.announce_change()
    return FeedResult(name, added, removed, len(wanted))


def refresh(feed: Feed, dry_run: bool = False) -> FeedResult:
    """Fetch, parse and apply one feed. FeedError leaves its previous entries in place; a dry
    run writes nothing at all."""
    now = timezone.now()
    try:
        entries = parse_feed(fetch_text(feed), feed)
    except FeedError as error:
        if not dry_run:
            state, _ = FeedState.objects.get_or_create(name=feed.name)
            if state.last_error != str(error)[:500]:
                logger.error("feed %s: %s; keeping its previous entries", feed.name, error)
            state.last_error = str(error)[:500]
            state.attempted_at = now
            state.save(update_fields=["last_error", "attempted_at"])
        raise
    if dry_run:
        current = current_entries(feed.name)
        return FeedResult(
            feed.name,
            [entry for entry in entries if entry not in current],
            sorted(current - set(entries)),
            len(entries),
        )
    result = replace_entries(feed.name, entries)
    state, _ = FeedState.objects.get_or_create(name=feed.name)
    if state.last_error:
        logger.warning("feed %s works again", feed.name)
    state.last_error = ""
    state.attempted_at = state.refreshed_at = now
    state.entries = result.total
    state.save()
    logger.info(
        "feed %s: %d entries, %d added, %d removed",
        feed.name,
        result.total,
        len(result.added),
        len(result.removed),
    )
    return result


def refresh_due() -> list[FeedResult]:
    """Refresh every configured feed whose interval has passed since its last attempt."""
    results = []
    states = {state.name: state for state in FeedState.objects.all()}
    now = timezone.now()
    for name, feed in configured_feeds().items():
        state = states.get(name)
        last = state.attempted_at if state else None
        if last is not None and now - last < parse_duration(feed.refresh) - timedelta(seconds=30):
            continue
        try:
            results.append(refresh(feed))
        except FeedError:
            continue  # logged once by refresh(); the previous entries stay
    return results
