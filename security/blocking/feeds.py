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

A feed's blocks are rows of its own (source "feed", its name in `feed`), beside any manual or
automatic block of the same target and beside other feeds' rows: the blocklist is their union.
A refresh replaces that feed's rows in one transaction: what left the feed loses that feed's row
only (another feed or a manual block listing it still blocks), and the allowlist still wins.
A feed that fails to download or parse (HTTP error, truncated file, a line that is not an
address, no entries at all, more than its cap, past its download deadline) leaves the previous
entries in place and says so once in the log.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from ..addresses import InvalidInput, covers_all_ipv4, parse_network, parse_target
from ..conf import conf
from ..models import BlockedIP, BlockSource, FeedState
from ..progress import Progress, no_progress
from ..targets import parse_duration
from . import changes
from .download import download
from .feed_config import Feed, configured_feeds
from .feed_formats import FORMATS, FeedError

logger = logging.getLogger(__name__)

CHUNK = 5000


# --- Fetching -----------------------------------------------------------------------------------


def fetch_text(feed: Feed) -> str:
    if feed.file:
        try:
            return Path(feed.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FeedError(f"cannot read {feed.file}: {error}") from error
    body = download(feed.url)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FeedError(f"{feed.url} is not UTF-8 text") from error


# --- Parsing ------------------------------------------------------------------------------------


def parse_feed(text: str, feed: Feed) -> list[str]:
    # Read lazily: a feed over its max_entries is refused at the first entry too many, before
    # the rest of a 64 MB download becomes Python objects.
    raw = FORMATS[feed.format](text, feed)
    entries: dict[str, None] = {}
    skipped: list[str] = []
    for number, value in raw:
        try:
            # Curated lists name wide bogon ranges on purpose (FireHOL: 224.0.0.0/3); only
            # "everything" is refused: a feed that blocks the world is a broken feed.
            entry = parse_target(value, allow_huge=True)
        except InvalidInput as error:
            raise FeedError(f"line {number}: {error}") from error
        if entry.endswith("/0"):
            raise FeedError(f"line {number}: {entry} would block every address")
        if covers_all_ipv4(parse_network(entry)):
            # IPv6 bogon lists carry ::/8, which holds the IPv4-mapped range: taken as it
            # stands it would refuse every IPv4 client. The feed means IPv6 space; skip it.
            skipped.append(entry)
            continue
        entries[entry] = None
        if len(entries) > feed.max_entries:
            raise FeedError(f"more than {feed.max_entries:,} entries (its max_entries)")
    if skipped:
        logger.warning(
            "feed %s: skipped %s (covers every IPv4 address through ::ffff:0:0/96)",
            feed.name,
            ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""),
        )
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

    @property
    def kept(self) -> int:
        return self.total - len(self.added)


def current_entries(name: str) -> set[str]:
    return set(
        BlockedIP.objects.filter(source=BlockSource.FEED, feed=name).values_list(
            "ip_address", flat=True
        )
    )


def replace_entries(name: str, entries: list[str], progress: Progress = no_progress) -> FeedResult:
    """The feed's own rows become exactly `entries`, in one transaction, leaving every row of
    another source or feed alone. Progress counts the rows removed and added."""
    with transaction.atomic():
        current = current_entries(name)
        wanted = set(entries)
        added = [entry for entry in entries if entry not in current]
        removed = sorted(current - wanted)
        total = len(removed) + len(added)
        for start in range(0, len(removed), CHUNK):
            BlockedIP.objects.filter(
                source=BlockSource.FEED, feed=name, ip_address__in=removed[start : start + CHUNK]
            ).delete()
            progress(min(start + CHUNK, len(removed)), total)
        now = timezone.now()
        for start in range(0, len(added), CHUNK):
            BlockedIP.objects.bulk_create(
                [
                    BlockedIP(
                        ip_address=entry,
                        reason=f"threat feed {name}",
                        source=BlockSource.FEED,
                        feed=name,
                        created_at=now,
                    )
                    for entry in added[start : start + CHUNK]
                ],
                ignore_conflicts=True,
            )
            progress(len(removed) + min(start + CHUNK, len(added)), total)
        if added or removed:
            changes.announce_change()
    return FeedResult(name, added, removed, len(wanted))


def record_failure(name: str, error: str, log: bool = True) -> None:
    """A configured feed's failure is noted on its state, once in the log; a one-off import
    that never worked leaves no state behind."""
    state = FeedState.objects.filter(name=name).first()
    if state is None:
        if name not in conf.FEEDS:
            return
        state = FeedState.objects.create(name=name)
    if log and state.last_error != error:
        logger.error("feed %s: %s; keeping its previous entries", name, error)
    state.last_error = error
    state.attempted_at = timezone.now()
    state.save(update_fields=["last_error", "attempted_at"])


def refresh(
    feed: Feed, dry_run: bool = False, log_failure: bool = True, progress: Progress = no_progress
) -> FeedResult:
    """Fetch, parse and apply one feed. FeedError leaves its previous entries in place; a dry
    run writes nothing at all. A caller that reports the failure itself (the command) passes
    log_failure=False, so that it is said once. Progress: the entries written."""
    now = timezone.now()
    try:
        entries = parse_feed(fetch_text(feed), feed)
    except FeedError as error:
        if not dry_run:
            record_failure(feed.name, str(error)[:500], log_failure)
        raise
    if dry_run:
        current = current_entries(feed.name)
        return FeedResult(
            feed.name,
            [entry for entry in entries if entry not in current],
            sorted(current - set(entries)),
            len(entries),
        )
    result = replace_entries(feed.name, entries, progress)
    state, _ = FeedState.objects.get_or_create(name=feed.name)
    if state.last_error:
        logger.warning("feed %s works again", feed.name)
    state.last_error = ""
    state.attempted_at = state.refreshed_at = now
    state.entries = result.total
    state.save()
    logger.info(
        "feed %s: %d entries, %d added, %d kept, %d removed",
        feed.name,
        result.total,
        len(result.added),
        result.kept,
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
