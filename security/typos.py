"""Naming mistakes in nested settings: an unknown key, with the known one it is a typo of."""

from collections.abc import Iterable
from difflib import get_close_matches


def unknown_keys(given: Iterable[object], known: Iterable[str]) -> str:
    """Empty when every key is known, else what is not, with the likely key it misspells:
    "unknown option 'refrsh' (did you mean 'refresh'?)"."""
    known = sorted(known)
    described = []
    for key in sorted(map(str, given)):
        if key in known:
            continue
        close = get_close_matches(key, known, n=1, cutoff=0.6)
        described.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if not described:
        return ""
    return f"unknown option{'s' if len(described) > 1 else ''} " + ", ".join(described)
