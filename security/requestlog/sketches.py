"""Distinct visitors per hour and per UTC day as HyperLogLog sketches (Apache DataSketches).

Why sketches: a month of a busy site holds hundreds of thousands of distinct (address, hour)
pairs; counting them distinctly per page view would read them all. A sketch of lg_k = 14 is
at most 16 KiB, stays exact (a list of hashes) up to about a thousand addresses, is within
0.8% (one standard error) above, and merges: a month's visitors are the union of its 30 day
sketches, a range's the union of its days and the hours at its ends.

Each drain adds its batch's addresses to the sketches of its shard (the advisory lock the
rollups took, see rollups.py), read-modify-write inside the transaction that stored the rows,
so sketches and rows commit together. Items are keyed hashes of the addresses (keyed with the
site's SECRET_KEY): a sketch cannot be asked whether it holds a given address without that key.
"""

import hashlib
from collections.abc import Iterable
from datetime import datetime
from types import ModuleType

from django.conf import settings
from django.db.models import Q

from ..models import VisitorSketch
from .analytics import VisitorKey

LG_K = 14


def _datasketches() -> ModuleType:
    # Imported here: it brings numpy, which only the worker and the analytics pages need.
    import datasketches

    return datasketches


def _hash_key() -> bytes:
    return hashlib.sha256(b"security.visitor-sketch:" + settings.SECRET_KEY.encode()).digest()


def item(address: str, key: bytes) -> int:
    digest = hashlib.blake2b(address.encode(), key=key, digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


def add(visitors: dict[VisitorKey, set[str]], shard: int) -> None:
    """Merge each (span, period, audience)'s addresses into this shard's sketch."""
    if not visitors:
        return
    ds = _datasketches()
    wanted = Q()
    for span, period, audience in visitors:
        wanted |= Q(span=span, period=period, audience=audience)
    stored = {
        (row.span, row.period, row.audience): bytes(row.sketch)
        for row in VisitorSketch.objects.filter(wanted, shard=shard)
    }
    hash_key = _hash_key()
    hashed: dict[str, int] = {}
    updated = []
    for key, addresses in visitors.items():
        raw = stored.get(key)
        if raw:
            sketch = ds.hll_sketch.deserialize(raw)
        else:
            sketch = ds.hll_sketch(LG_K, ds.tgt_hll_type.HLL_8)
        for address in addresses:
            value = hashed.get(address)
            if value is None:
                value = hashed[address] = item(address, hash_key)
            sketch.update(value)
        span, period, audience = key
        updated.append(
            VisitorSketch(
                span=span,
                period=period,
                audience=audience,
                shard=shard,
                sketch=sketch.serialize_compact(),
            )
        )
    VisitorSketch.objects.bulk_create(
        updated,
        update_conflicts=True,
        unique_fields=["span", "period", "audience", "shard"],
        update_fields=["sketch"],
    )


def union(raws: Iterable[bytes]) -> int:
    ds = _datasketches()
    merged = ds.hll_union(LG_K)
    for raw in raws:
        merged.update(ds.hll_sketch.deserialize(bytes(raw)))
    return round(merged.get_estimate())


def by_period(
    span: str, start: datetime, end: datetime, audiences: Iterable[str]
) -> dict[datetime, list[bytes]]:
    """The stored sketches of each period in [start, end), every shard and audience."""
    found: dict[datetime, list[bytes]] = {}
    rows = VisitorSketch.objects.filter(
        span=span, period__gte=start, period__lt=end, audience__in=list(audiences)
    ).values_list("period", "sketch")
    for period, raw in rows:
        found.setdefault(period, []).append(bytes(raw))
    return found
