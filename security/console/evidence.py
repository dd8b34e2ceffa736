"""A flag's evidence (the JSON the rules store) as an operator reads it: named facts and the
sample requests, never the raw JSON."""

LABELS = {
    "signature": "matched",
    "total": "requests in the window",
    "sensitive": "requests to sensitive paths",
    "not_found_paths": "distinct paths answered 404",
    "rate_limited": "requests answered 429",
    "user_agents": "distinct user agents",
}
SAMPLE_FIELDS = ("time", "method", "path", "query", "status", "user_agent")


def facts(evidence: object) -> list[tuple[str, str]]:
    if not isinstance(evidence, dict):
        return []
    shown = []
    for key, value in evidence.items():
        if key in ("rule", "requests") or value in ("", None):
            continue
        shown.append((LABELS.get(key, key.replace("_", " ")), _text(value)))
    return shown


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
