"""Geolocation: local MaxMind database first, then the shared cache, then an HTTP API.

A local lookup costs microseconds, less than a Redis round trip, so only what the API answered
is cached. Nothing here runs on the request path: the drain calls lookup_many once per batch.
Only validated, globally routable addresses ever leave the machine.
"""

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path

import geoip2.database
import geoip2.errors
import maxminddb
import requests
from django.core.cache import cache
from redis.exceptions import RedisError

from . import metrics
from .addresses import is_public, parse_address
from .conf import conf

logger = logging.getLogger(__name__)

CACHE_PREFIX = "geo:"
API_BATCH_LIMIT = 100  # ip-api.com's batch endpoint takes at most 100 addresses


@dataclass(frozen=True)
class GeoResult:
    ip: str
    country_code: str = ""
    country: str = ""
    city: str = ""
    source: str = "none"  # "local" | "api" | "cache" | "none"

    def as_fields(self) -> dict[str, str]:
        return {
            "country_code": self.country_code,
            "country": self.country,
            "city": self.city,
            "source": self.source,
        }

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def known(self) -> bool:
        return bool(self.country_code or self.city)


# --- Local database ---------------------------------------------------------------------------


class LocalDatabase:
    """A GeoLite2 reader, opened once per process and reopened when the file is replaced."""

    STAT_INTERVAL = 5.0

    def __init__(self, file_setting: str = "GEOIP_CITY", opener=geoip2.database.Reader) -> None:
        self._file_setting = file_setting
        self._opener = opener
        self.reset()

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._reader: geoip2.database.Reader | None = None
        self._identity: tuple | None = None
        self._checked_at = 0.0
        self._path: Path | None = None

    def path(self) -> Path:
        return Path(conf.GEOIP_PATH) / getattr(conf, self._file_setting)

    def reader(self) -> geoip2.database.Reader | None:
        path = self.path()
        now = time.monotonic()
        if path == self._path and now - self._checked_at < self.STAT_INTERVAL:
            return self._reader
        with self._lock:
            self._checked_at = now
            self._path = path
            try:
                stat = os.stat(path)
            except OSError:
                self._reader, self._identity = None, None
                return None
            identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if identity != self._identity:
                try:
                    self._reader = self._opener(str(path))
                except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
                    logger.error("cannot open GeoIP database %s: %s", path, error)
                    self._reader = None
                self._identity = identity
            return self._reader

    def lookup(self, ip: str, reader: geoip2.database.Reader | None = None) -> GeoResult | None:
        """reader: one already fetched with reader() (a batch fetches it once)."""
        reader = reader or self.reader()
        if reader is None:
            return None
        try:
            answer = reader.city(ip)
        except geoip2.errors.AddressNotFoundError:
            return None
        except (TypeError, ValueError, maxminddb.InvalidDatabaseError) as error:
            logger.warning("GeoIP database lookup of %s failed: %s", ip, error)
            return None
        return GeoResult(
            ip=ip,
            country_code=answer.country.iso_code or "",
            country=answer.country.name or "",
            city=answer.city.name or "",
            source="local",
        )


local_database = LocalDatabase()
# Raw readers for the country and network rules: a plain record lookup is several times cheaper
# than building geoip2's model objects, and these run on a request's first sight of a client.
raw_city_database = LocalDatabase("GEOIP_CITY", maxminddb.open_database)
raw_asn_database = LocalDatabase("GEOIP_ASN", maxminddb.open_database)


def raw_record(database: LocalDatabase, ip: str) -> dict | None:
    reader = database.reader()
    if reader is None:
        return None
    try:
        record = reader.get(ip)
    except (TypeError, ValueError, maxminddb.InvalidDatabaseError) as error:
        logger.warning("GeoIP lookup of %s failed: %s", ip, error)
        return None
    return record if isinstance(record, dict) else None


def country_code_of(ip: str) -> str:
    record = raw_record(raw_city_database, ip) or {}
    return str((record.get("country") or {}).get("iso_code") or "")


def asn_of(ip: str) -> int | None:
    """The autonomous system of a validated address, from the local GeoLite2-ASN database."""
    number = (raw_record(raw_asn_database, ip) or {}).get("autonomous_system_number")
    return number if isinstance(number, int) else None


# --- Shared cache (best effort: a down Redis means a miss, never an error) --------------------


def cache_get_many(ips: list[str]) -> dict[str, GeoResult]:
    try:
        found = cache.get_many([CACHE_PREFIX + ip for ip in ips])
    except RedisError:
        return {}
    return {
        key[len(CACHE_PREFIX) :]: GeoResult(**{**value, "source": "cache"})
        for key, value in found.items()
        if isinstance(value, dict)
    }


def cache_store(results: dict[str, GeoResult], definitive: set[str]) -> None:
    long_lived = {CACHE_PREFIX + ip: r.as_dict() for ip, r in results.items() if ip in definitive}
    short_lived = {
        CACHE_PREFIX + ip: r.as_dict() for ip, r in results.items() if ip not in definitive
    }
    try:
        if long_lived:
            cache.set_many(long_lived, conf.GEO_CACHE_SECONDS)
        if short_lived:
            cache.set_many(short_lived, conf.GEO_UNKNOWN_CACHE_SECONDS)
    except RedisError as error:
        logger.warning("could not cache geolocation results: %s", error)


# --- HTTP API ---------------------------------------------------------------------------------


class ApiUnavailable(Exception):
    pass


class GeoApi:
    """Client of an ip-api.com-compatible API with a breaker and the API's own rate limit.

    `requests` timeouts bound each socket operation, not a call: a server that trickles a
    byte every half second would hold a drain for ever. So the calls of one batch run in a
    helper thread and the drain waits for them at most SECURITY_GEO_API_DEADLINE seconds;
    past that the batch goes on without them, the miss counts towards the breaker, and no
    new call starts while the stuck one lasts (one thread at most, whatever the API does; each
    batch that finds it still stuck counts as one more failure).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = 0
        self._closed_until = 0.0
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: Future | None = None

    def available(self) -> bool:
        return bool(conf.GEO_API_URL) and time.monotonic() >= self._closed_until

    def _pause(self, seconds: float, why: str) -> None:
        with self._lock:
            self._closed_until = max(self._closed_until, time.monotonic() + seconds)
        metrics.note_geo_breaker(time.time() + seconds)
        logger.warning("geolocation API paused for %.0fs: %s", seconds, why)

    def _failed(self, why: str) -> None:
        with self._lock:
            self._failures += 1
            failures = self._failures
        if failures >= conf.GEO_BREAKER_FAILURES:
            self._failures = 0
            self._pause(conf.GEO_BREAKER_SECONDS, f"{failures} failures in a row, last: {why}")
        else:
            logger.warning("geolocation API call failed: %s", why)

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        timeout = conf.GEO_API_TIMEOUT
        try:
            response = requests.request(method, url, timeout=(min(1.0, timeout), timeout), **kwargs)
        except requests.RequestException as error:
            self._failed(type(error).__name__)
            raise ApiUnavailable(str(error)) from error
        self._honour_rate_limit(response)
        if response.status_code != 200:
            self._failed(f"HTTP {response.status_code}")
            raise ApiUnavailable(f"HTTP {response.status_code}")
        with self._lock:
            self._failures = 0
        return response

    def _honour_rate_limit(self, response: requests.Response) -> None:
        # ip-api.com announces its budget: X-Rl requests left, X-Ttl seconds until it refills.
        # Going past it earns a 429 and, repeated, a ban.
        try:
            remaining = int(response.headers.get("X-Rl", "1"))
            reset = int(response.headers.get("X-Ttl", "60"))
        except ValueError:
            return
        if response.status_code == 429 or remaining <= 0:
            self._pause(max(1, reset), "rate limit reached")

    def lookup(self, ips: list[str]) -> dict[str, GeoResult]:
        """Results for the IPs it could ask about within the deadline (each one cached)."""
        if self._inflight is not None and not self._inflight.done():
            self._failed("an earlier call is still unanswered")
            return {}
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="security-geo")
        future = self._executor.submit(self._lookup_and_cache, ips)
        self._inflight = future
        try:
            return future.result(timeout=conf.GEO_API_DEADLINE)
        except FutureTimeout:
            self._failed(f"no answer within {conf.GEO_API_DEADLINE:.0f}s")
            return {}
        except BaseException:
            # The actor's time limit (or a shutdown) interrupted the wait: a failure too.
            self._failed("interrupted while waiting")
            raise

    def _lookup_and_cache(self, ips: list[str]) -> dict[str, GeoResult]:
        fetched, definitive = self._lookup_blocking(ips)
        unanswered = {ip: GeoResult(ip=ip) for ip in ips if ip not in fetched}
        cache_store({**fetched, **unanswered}, definitive)
        return fetched

    def _lookup_blocking(self, ips: list[str]) -> tuple[dict[str, GeoResult], set[str]]:
        results: dict[str, GeoResult] = {}
        definitive: set[str] = set()
        batch_url = conf.GEO_API_BATCH_URL
        try:
            if batch_url and len(ips) > 1:
                for start in range(0, len(ips), API_BATCH_LIMIT):
                    if not self.available():
                        break
                    chunk = ips[start : start + API_BATCH_LIMIT]
                    answers = self._request("POST", batch_url, json=chunk).json()
                    if not isinstance(answers, list) or len(answers) != len(chunk):
                        raise ValueError("batch answer does not match the request")
                    for ip, answer in zip(chunk, answers, strict=True):
                        self._read_answer(ip, answer, results, definitive)
            else:
                for ip in ips:
                    if not self.available():
                        break
                    answer = self._request("GET", conf.GEO_API_URL.format(ip=ip)).json()
                    self._read_answer(ip, answer, results, definitive)
        except ApiUnavailable:
            pass
        except ValueError as error:  # JSON that is not an ip-api answer
            self._failed(f"unreadable answer: {error}")
        return results, definitive

    @staticmethod
    def _read_answer(
        ip: str, answer: object, results: dict[str, GeoResult], definitive: set[str]
    ) -> None:
        if not isinstance(answer, dict):
            raise ValueError("answer is not an object")
        if answer.get("status") == "success":
            results[ip] = GeoResult(
                ip=ip,
                country_code=str(answer.get("countryCode") or "")[:2],
                country=str(answer.get("country") or "")[:64],
                city=str(answer.get("city") or "")[:128],
                source="api",
            )
            definitive.add(ip)
        elif answer.get("status") == "fail":
            # The API knows the address and says it has nothing: that is an answer too.
            results[ip] = GeoResult(ip=ip, source="api")
            definitive.add(ip)
        else:
            raise ValueError("answer has no status")


geo_api = GeoApi()


# --- The lookup -------------------------------------------------------------------------------


def lookup_many(ips: set[str] | list[str], use_network: bool = True) -> dict[str, GeoResult]:
    """Country and city for each IP: local database, then cache, then the API.

    use_network=False stays on this machine (no cache, no API): for the fallback path that runs
    when Redis is down.
    """
    results: dict[str, GeoResult] = {}
    remote: list[str] = []
    reader = local_database.reader()
    for raw in dict.fromkeys(ips):
        # The local database parses (and refuses) addresses itself; only what goes to the
        # API is parsed here, so a batch of 50,000 new addresses costs no 50,000 parses.
        local = local_database.lookup(raw, reader) if reader is not None else None
        if local is not None:
            results[raw] = local
            continue
        ip = parse_address(raw) if use_network else None
        if ip is not None and is_public(ip):
            remote.append(ip)
        else:
            results[raw] = GeoResult(ip=ip or raw)
    if not remote:
        return results
    cached = cache_get_many(remote)
    results.update(cached)
    missing = [ip for ip in remote if ip not in cached]
    if missing and geo_api.available():
        results.update(geo_api.lookup(missing))
    for ip in missing:
        results.setdefault(ip, GeoResult(ip=ip))
    return results


def lookup(ip: str, use_network: bool = True) -> GeoResult:
    return lookup_many([ip], use_network)[ip]
