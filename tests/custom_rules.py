"""A rule as a site would add one: one class, and its path in SECURITY_DETECT_RULE_CLASSES."""

from dataclasses import dataclass

from django.db.models import Aggregate, Count, Q

from security.detection.rule import COUNTS, CountingRule, ScanTerms
from security.requestlog.records import StoredRow


@dataclass(frozen=True)
class WrongMethod(CountingRule):
    reason = "wrong_method"
    label = "Writes to read-only pages"
    matches = "requests answered 405 (a bot posting to every page it finds)"
    describe = "requests answered 405"
    count_name = "wrong_method"
    window: int = 600
    threshold: int = 3

    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        return COUNTS if row.status_code == 405 else None

    def counts(self, terms: ScanTerms) -> dict[str, Aggregate]:
        return {self.count_name: Count("id", filter=Q(status_code=405))}
