"""Allow or deny clients by country (ISO code) and by autonomous system, decided from the local
GeoLite2 databases only (never the HTTP API, never on a network round trip), and only when a
rule is configured. The answer for each address is cached in the process; the cache is
dropped when a database file is replaced.

    SECURITY_BLOCK_COUNTRIES = ["XX", "YY"]      # deny these
    SECURITY_ALLOW_COUNTRIES = ["SE", "NO"]      # or: only these (unplaced addresses get in)
    SECURITY_BLOCK_ASNS = [64496, 64511]         # deny these networks' operators

The allowlist wins over all of it (security.middleware checks it first).
"""

from functools import lru_cache

from . import geo
from .conf import conf

CACHE_SIZE = 65536


def configured() -> bool:
    return bool(conf.BLOCK_COUNTRIES or conf.ALLOW_COUNTRIES or conf.BLOCK_ASNS)


@lru_cache(maxsize=CACHE_SIZE)
def _placed(ip: str, readers: tuple) -> tuple[str, int | None]:
    local = geo.local_database.lookup(ip)
    country = local.country_code if local is not None else ""
    asn = geo.asn_of(ip) if conf.BLOCK_ASNS else None
    return country, asn


def denial(ip: str) -> str | None:
    """Why this address is refused by a country or network rule, or None."""
    # The readers' identities are part of the key: a replaced database is a fresh cache.
    readers = (id(geo.local_database.reader()), id(geo.asn_database.reader()))
    country, asn = _placed(ip, readers)
    if country and country in conf.BLOCK_COUNTRIES:
        return f"country {country}"
    if conf.ALLOW_COUNTRIES and country and country not in conf.ALLOW_COUNTRIES:
        return f"country {country} not allowed"
    if asn is not None and asn in conf.BLOCK_ASNS:
        return f"AS{asn}"
    return None
