"""Failed logins per account, counted for every client together: credential stuffing spreads
its guesses over many addresses (one guess from each of 20 addresses), which no per-client
limit sees. django-axes limits by username for the same reason.

Every failed authentication (Django's `user_login_failed`, sent by `authenticate()` for the
site login, the admin login and any view using it) adds one to the account's count in Redis,
in fixed windows of SECURITY_RATE_ACCOUNT_FAILURES (default 10 per 15 minutes). While an
account is over it, a POST naming it to any limited login view gets 429 before the password
is checked, whoever sends it: the owner too, until the window ends (the price of the limit; a
password reset is not blocked by it). Accounts are keyed by a hash of the normalised username,
so no username is stored in Redis.
"""

import hashlib
import logging
import time
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django_ratelimit.core import _split_rate
from redis.exceptions import RedisError

from .conf import conf
from .redis_client import get_redis

logger = logging.getLogger(__name__)

KEY = "security:login-failures:{account}:{window}"


def account_of(username: object) -> str | None:
    name = str(username or "").strip().casefold()
    if not name:
        return None
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def window() -> tuple[int, int, int]:
    """(limit, window length in seconds, the current window's number)."""
    limit, period = _split_rate(conf.RATE_ACCOUNT_FAILURES)
    return limit, period, int(time.time() // period)


def count_failure(username: object) -> None:
    account = account_of(username)
    if account is None:
        return
    _limit, period, number = window()
    key = KEY.format(account=account, window=number)
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, period)
        pipe.execute()
    except RedisError as error:
        logger.warning("failed login not counted (Redis unreachable: %s)", error)


@receiver(user_login_failed, dispatch_uid="security.account_limits.failed")
def _on_login_failed(
    sender: object, credentials: dict, request: HttpRequest | None = None, **kw: Any
) -> None:
    count_failure(credentials.get("username") or next(iter(credentials.values()), ""))


def username_in(request: HttpRequest) -> str | None:
    for name in conf.RATELIMIT_USERNAME_FIELDS:
        value = request.POST.get(name)
        if value:
            return value
    return None


def retry_after(request: HttpRequest) -> int | None:
    """Seconds until the account this POST names may be tried again, or None."""
    account = account_of(username_in(request))
    if account is None:
        return None
    limit, period, number = window()
    try:
        failures = int(get_redis().get(KEY.format(account=account, window=number)) or 0)
    except RedisError:
        return None if conf.RATELIMIT_FAIL_OPEN else period
    if failures < limit:
        return None
    return max(1, int((number + 1) * period - time.time()))
