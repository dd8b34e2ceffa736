"""Feed formats: each turns a downloaded list into (line or entry number, address or network)
pairs. A new format is one function here and one name in FORMATS."""

import json
from collections.abc import Callable, Iterable
from typing import Protocol


class FeedError(Exception):
    pass


class Selection(Protocol):
    """What a format may filter on (a feed's options)."""

    @property
    def min_count(self) -> int: ...
    @property
    def services(self) -> tuple[str, ...]: ...
    @property
    def regions(self) -> tuple[str, ...]: ...


Entries = Iterable[tuple[int, str]]
Parser = Callable[[str, Selection], Entries]


def plain_entries(text: str, feed: Selection) -> Entries:
    """Address/CIDR lines; `#` and `;` start comments (FireHOL, Spamhaus DROP); an ipsum line
    is `address<TAB>count` and counts below min_count are left out."""
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not content:
            continue
        fields = content.split()
        if len(fields) > 1 and fields[1].isdigit() and int(fields[1]) < feed.min_count:
            continue
        yield number, fields[0]


def _ranges_document(text: str, name: str) -> dict:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise FeedError(
            f"not JSON ({error.__class__.__name__}): truncated or not a {name} file"
        ) from error
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise FeedError(f"no 'prefixes' list: not a {name} ranges file")
    return document


def _prefixes(items: list, feed: Selection, keys: tuple[str, str], where: str) -> Entries:
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


def aws_entries(text: str, feed: Selection) -> Entries:
    """ip-ranges.json: filtered by service and region."""
    document = _ranges_document(text, "aws")
    items = document["prefixes"] + list(document.get("ipv6_prefixes", []))
    return _prefixes(items, feed, ("ip_prefix", "ipv6_prefix"), "region")


def gcp_entries(text: str, feed: Selection) -> Entries:
    """Google Cloud's cloud.json: filtered by service and scope (given as regions)."""
    document = _ranges_document(text, "gcp")
    return _prefixes(document["prefixes"], feed, ("ipv4Prefix", "ipv6Prefix"), "scope")


FORMATS: dict[str, Parser] = {
    "plain": plain_entries,
    "spamhaus": plain_entries,
    "aws": aws_entries,
    "gcp": gcp_entries,
}
