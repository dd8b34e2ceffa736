"""What a threat feed is: its options in SECURITY_FEEDS, validated one entry at a time, so a
mistake in one feed leaves every other feed working (and `manage.py check` names it)."""

import logging
from dataclasses import dataclass

from ..addresses import InvalidInput
from ..conf import conf
from ..targets import parse_duration
from ..typos import unknown_keys
from .feed_formats import FORMATS, FeedError

logger = logging.getLogger(__name__)

FIELD_HELP = (
    f"url or file, and optionally format ({', '.join(FORMATS)}), refresh (a duration such as "
    "'6h'), max_entries, min_count, services and regions"
)


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
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 64:
            raise FeedError(f"feed name {self.name!r} must be 1 to 64 characters")
        problem = self.problem()
        if problem:
            raise FeedError(f"feed {self.name}: {problem}")

    def problem(self) -> str:
        for option in ("url", "file", "format", "refresh"):
            if not isinstance(getattr(self, option), str):
                return f"{option} must be a string"
        if bool(self.url) == bool(self.file):
            return "give exactly one of url and file"
        if self.format not in FORMATS:
            return f"format must be one of {', '.join(FORMATS)}, not {self.format!r}"
        try:
            parse_duration(self.refresh)
        except InvalidInput as error:
            return f"refresh {error}"
        for option in ("max_entries", "min_count"):
            value = getattr(self, option)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                return f"{option} must be a positive whole number, not {value!r}"
        for option in ("services", "regions"):
            if not all(isinstance(item, str) for item in getattr(self, option)):
                return f"{option} must be a list of strings"
        return ""


def make_feed(name: str, options: dict) -> Feed:
    if not isinstance(options, dict):
        raise FeedError(f"feed {name}: its options must be a dict, like {{'url': ...}}")
    unknown = unknown_keys(options, set(Feed.__dataclass_fields__) - {"name"})
    if unknown:
        raise FeedError(f"feed {name}: {unknown}")
    values = dict(options)
    for key in ("services", "regions"):
        if key in values:
            if isinstance(values[key], str):  # "EC2" would filter on the letters E, C, 2
                raise FeedError(f"feed {name}: {key} must be a list, like [{values[key]!r}]")
            values[key] = tuple(values[key])
    return Feed(name=name, **values)


def read_feeds(entries: object) -> tuple[dict[str, Feed], dict[str, str]]:
    """SECURITY_FEEDS as feeds, and what is wrong with each entry that is not one."""
    if not isinstance(entries, dict):
        return {}, {"": "SECURITY_FEEDS must be a dict of feed name: options"}
    feeds: dict[str, Feed] = {}
    problems: dict[str, str] = {}
    for name, options in entries.items():
        try:
            feeds[name] = make_feed(name, options)
        except (FeedError, TypeError) as error:
            problems[str(name)] = str(error)
    return feeds, problems


def configured_feeds() -> dict[str, Feed]:
    """The feeds of SECURITY_FEEDS; an entry with a mistake is left out (the others still
    refresh), said in the log here and by `manage.py check` (ip_tracking.E009)."""
    feeds, problems = read_feeds(conf.FEEDS)
    for problem in problems.values():
        logger.error("SECURITY_FEEDS: %s; that feed is not refreshed", problem)
    return feeds


def configured_feed(name: str) -> Feed:
    feeds, problems = read_feeds(conf.FEEDS)
    if name in problems:
        raise FeedError(problems[name].removeprefix(f"feed {name}: "))
    if name not in feeds:
        known = ", ".join(sorted(feeds)) or "none configured"
        raise FeedError(f"not in SECURITY_FEEDS ({known}); give --url or --file")
    return feeds[name]
