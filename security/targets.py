"""Parsing what operators type: lists of targets, target files and durations. Errors name the
bad input; a single address or network is parsed by security.addresses."""

import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from .addresses import InvalidInput, parse_target

__all__ = ["InvalidInput", "parse_duration", "parse_target", "parse_targets", "read_target_file"]


MAX_DURATION = timedelta(days=3650)
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION_RE = re.compile(r"(\d{1,7})([smhdw])")


def parse_targets(texts: Iterable[str], allow_huge: bool = False) -> list[str]:
    """All targets normalised and deduplicated, or InvalidInput for the first bad one."""
    seen: dict[str, None] = {}
    for text in texts:
        seen[parse_target(text, allow_huge)] = None
    return list(seen)


def read_target_file(path: str, allow_huge: bool = False) -> list[str]:
    """Targets from a file: one per line, '#' starts a comment, blank lines ignored."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read {path}: {error}") from error
    targets = []
    for number, line in enumerate(content.splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            targets.append(parse_target(text, allow_huge))
        except InvalidInput as error:
            raise InvalidInput(f"{path}:{number}: {error}") from error
    return targets


def parse_duration(text: str) -> timedelta:
    """'30m', '12h', '7d', '2w', or a combination such as '1d12h'."""
    value = text.strip().lower()
    parts = DURATION_RE.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise InvalidInput(f"{text!r} is not a duration (use e.g. 30m, 12h, 7d)")
    duration = sum(
        (timedelta(**{DURATION_UNITS[unit]: int(number)}) for number, unit in parts), timedelta()
    )
    if duration <= timedelta(0):
        raise InvalidInput(f"{text!r} is not a positive duration")
    if duration > MAX_DURATION:
        raise InvalidInput(
            f"{text!r} is longer than 10 years; leave out --expires to block for good"
        )
    return duration
