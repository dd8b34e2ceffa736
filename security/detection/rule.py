"""What a detection rule is: one class each, listed in SECURITY_DETECT_RULE_CLASSES
(registry.py), carrying its name, its window and threshold, and both of its evaluations.

- A SignatureRule flags one request: the verdicts of verdicts.py name it (its `sources` say
  which lists and detectors those are).
- A CountingRule flags a client that does something too often. `member()` is its streaming
  evaluation (what one stored request adds to a Redis window in the drain); `counts()`,
  `having()` and `flagged()` are its SQL count in the hourly scan (aggregates over the window's
  requests grouped per client, or per client and path with `per_path`).

A setting overrides any field of any rule: SECURITY_DETECT_RULES = {"not_found": {"threshold":
30}}. The instances are frozen: the registry builds them from the classes and the settings.
"""

from dataclasses import dataclass
from typing import ClassVar

from django.db.models import Aggregate, F, Q

from ..conf import conf
from ..requestlog.records import StoredRow
from . import prefixes
from .lookups import IStartsWithAny

# Counting windows add this for a request that counts (a member of a distinct window is a
# value: a path, a query string, a user agent).
COUNTS = "1"


@dataclass(frozen=True)
class Rule:
    reason: ClassVar[str]  # the SuspiciousIP.reason it writes, at most 16 characters
    label: ClassVar[str]  # what the console calls it
    matches: ClassVar[str]  # one line for the README's table of rules
    # Settings that predate SECURITY_DETECT_RULES, and the field each one sets.
    legacy_settings: ClassVar[dict[str, str]] = {}

    window: int = 3600  # seconds
    threshold: int = 1
    streaming: bool = True
    enabled: bool = True


@dataclass(frozen=True)
class SignatureRule(Rule):
    sources: ClassVar[str]  # the lists and detectors whose verdicts name this rule


@dataclass(frozen=True)
class CountingRule(Rule):
    describe: ClassVar[str]  # the count, as the evidence line reads: "distinct paths answered 404"
    count_name: ClassVar[str]  # the scan's count of it: the first of counts(), an evidence key
    evidence_labels: ClassVar[dict[str, str]] = {}  # how the console names its other counts
    distinct: ClassVar[bool] = False  # count distinct members (a HyperLogLog), or requests
    per_path: ClassVar[bool] = False  # a window per client and path, not per client
    # The scan flags a count above the threshold when True, at or above it when False.
    strictly_above: ClassVar[bool] = False

    # The hourly scan's threshold over its hour, when it differs from the streaming window's.
    scan_threshold: int | None = None

    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        """What the request adds to its window (COUNTS, or the value a distinct rule counts),
        or None. `sensitive`: the path is one of SECURITY_DETECT_SENSITIVE_PATHS."""
        raise NotImplementedError

    def window_key(self, row: StoredRow) -> str:
        client = prefixes.client_key(row.ip_address or "")
        return f"{client}|{row.path[:200]}" if self.per_path else client

    def counts(self, terms: "ScanTerms") -> dict[str, Aggregate]:
        """The scan's aggregates, the rule's own count first (evidence keeps them all)."""
        raise NotImplementedError

    def limit(self) -> int:
        return self.threshold if self.scan_threshold is None else self.scan_threshold

    def having(self) -> Q:
        """The scan's HAVING: which grouped rows may carry a finding of this rule."""
        lookup = "gt" if self.strictly_above else "gte"
        return Q(**{f"{self.count_name}__{lookup}": self.limit()})

    def flagged(self, row: dict) -> bool:
        """Whether a grouped row the scan read is a finding of this rule."""
        count = row[self.count_name]
        return count > self.limit() if self.strictly_above else count >= self.limit()


@dataclass(frozen=True)
class ScanTerms:
    """The conditions the scan's counts share, built from the settings once per scan."""

    sensitive: Q
    anonymous: Q
    client_error: Q
    plain_visit: Q

    @classmethod
    def current(cls) -> "ScanTerms":
        return cls(
            sensitive=Q(IStartsWithAny(F("path"), conf.DETECT_SENSITIVE_PATHS)),
            anonymous=Q(user_id__isnull=True),
            client_error=Q(status_code__gte=400, status_code__lt=500),
            plain_visit=Q(method__in=("GET", "HEAD"), status_code__lt=300),
        )
