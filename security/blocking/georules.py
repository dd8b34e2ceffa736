"""Allow or deny clients by country (ISO code) and by autonomous system, decided from the local
GeoLite2 databases only (never the HTTP API, never on a network round trip), and only when a
rule is configured. The answer for each address is cached in the process; the cache is
dropped when a database file is replaced.

    SECURITY_BLOCK_COUNTRIES = ["XX", "YY"]      # deny these
    SECURITY_ALLOW_COUNTRIES = ["SE", "NO"]      # or: only these (unplaced addresses get in)
    SECURITY_BLOCK_ASNS = [64496, 64511]         # deny these networks' operators

The allowlist wins over all of it (security.middleware checks it first).
"""

import time
from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from .. import geo
from ..conf import conf

CACHE_SIZE = 65536
RULE_SETTINGS = {"SECURITY_BLOCK_COUNTRIES", "SECURITY_ALLOW_COUNTRIES", "SECURITY_BLOCK_ASNS"}


@lru_cache(maxsize=1)
def rules() -> tuple[frozenset[str], frozenset[str], frozenset[int]]:
    # Asked on every request: read the settings once, again only when they change (tests).
    return conf.BLOCK_COUNTRIES, conf.ALLOW_COUNTRIES, conf.BLOCK_ASNS


@lru_cache(maxsize=1)
def configured() -> bool:
    return any(rules())


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in RULE_SETTINGS or setting == "GEOIP_PATH":
        rules.cache_clear()
        configured.cache_clear()
        _placed.cache_clear()
        Readers.next_check = 0.0


@lru_cache(maxsize=CACHE_SIZE)
def _placed(ip: str, readers: tuple, with_asn: bool) -> tuple[str, int | None]:
    return geo.country_code_of(ip), geo.asn_of(ip) if with_asn else None


class Readers:
    """The databases' identities, part of every cache key (a replaced file is a fresh cache),
    looked at no more often than the readers themselves look at their files."""

    key: tuple = ()
    next_check = 0.0

    @classmethod
    def current(cls) -> tuple:
        now = time.monotonic()
        if now >= cls.next_check:
            cls.key = (id(geo.raw_city_database.reader()), id(geo.raw_asn_database.reader()))
            cls.next_check = now + geo.LocalDatabase.STAT_INTERVAL
        return cls.key


def denial(ip: str) -> str | None:
    """Why this address is refused by a country or network rule, or None."""
    blocked_countries, allowed_countries, blocked_asns = rules()
    country, asn = _placed(ip, Readers.current(), bool(blocked_asns))
    if country and country in blocked_countries:
        return f"country {country}"
    if allowed_countries and country and country not in allowed_countries:
        return f"country {country} not allowed"
    if asn is not None and asn in blocked_asns:
        return f"AS{asn}"
    return None
