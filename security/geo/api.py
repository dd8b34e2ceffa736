"""The fallback HTTP API (ip-api.com-compatible), behind a breaker, the API's own rate limit
and a total deadline per batch. Only validated, globally routable addresses reach it."""

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import requests

from .. import metrics
from ..conf import conf
from .cache import cache_store
from .result import GeoResult

logger = logging.getLogger(__name__)

API_BATCH_LIMIT = 100  # ip-api.com's batch endpoint takes at most 100 addresses


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

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
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
