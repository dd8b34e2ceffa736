"""A flag's evidence (the JSON the rules store) as an operator reads it: named facts and the
sample requests, never the raw JSON."""

from ..detection import registry

LABELS = {"signature": "matched", "total": "requests in the window"}
SAMPLE_FIELDS = ("time", "method", "path", "query", "status", "user_agent")


def facts(evidence: object) -> list[tuple[str, str]]:
    if not isinstance(evidence, dict):
        return []
    labels = LABELS | counting_labels()
    shown = []
    for key, value in evidence.items():
        if key in ("rule", "requests") or value in ("", None) or _other_rules_zero(key, value):
            continue
        shown.append((labels.get(key, key.replace("_", " ")), _text(value)))
    return shown


def _other_rules_zero(key: str, value: object) -> bool:
    # The scan keeps every counting rule's count of the client; a zero says nothing.
    return value == 0 and not isinstance(value, bool) and key != "total"


def counting_labels() -> dict[str, str]:
    """What each counting rule's counts are called: its own, and any other it keeps."""
    labels: dict[str, str] = {}
    for rule in registry.counting(registry.all_rules()).values():
        labels |= {rule.count_name: rule.describe, **rule.evidence_labels}
    return labels


def samples(evidence: object) -> list[dict]:
    requests = evidence.get("requests") if isinstance(evidence, dict) else None
    if not isinstance(requests, list):
        return []
    return [
        {name: str(item.get(name, "")) for name in SAMPLE_FIELDS}
        for item in requests
        if isinstance(item, dict)
    ]


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
