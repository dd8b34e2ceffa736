"""The app's settings, each with its default, read at use time so override_settings works."""

from django.conf import settings

from .defaults import (
    DEFAULT_MASKED_PARAMETERS,
    DEFAULT_MASKED_PATH_PATTERNS,
    DEFAULT_MASKED_URL_KWARGS,
    DEFAULT_RATELIMIT_VIEWS,
    DEFAULT_REDIS_CLIENT_OPTIONS,
    DEFAULT_USERNAME_FIELDS,
)


class SecuritySettings:
    @property
    def TRUSTED_PROXIES(self) -> tuple[str, ...]:
        return tuple(getattr(settings, "SECURITY_TRUSTED_PROXIES", ()))

    @property
    def FORWARDED_HEADER(self) -> str:
        # The WSGI name of the header a trusted proxy appends the client to.
        return getattr(settings, "SECURITY_FORWARDED_HEADER", "HTTP_X_FORWARDED_FOR")

    @property
    def REDIS_URL(self) -> str:
        return (
            getattr(settings, "SECURITY_REDIS_URL", None)
            or getattr(settings, "REDIS_URL", None)
            or "redis://127.0.0.1:6379/0"
        )

    @property
    def REDIS_CLIENT_OPTIONS(self) -> dict:
        # Short socket timeouts: a Redis that hangs must cost a request milliseconds, not seconds.
        return dict(getattr(settings, "REDIS_CLIENT_OPTIONS", DEFAULT_REDIS_CLIENT_OPTIONS))

    @property
    def LOG_STREAM(self) -> str:
        return getattr(settings, "SECURITY_LOG_STREAM", "security:requestlog")

    @property
    def LOG_MASKED_PARAMETERS(self) -> tuple[str, ...]:
        # Query parameters named by (or made of) these words are logged as [masked].
        return tuple(getattr(settings, "SECURITY_LOG_MASKED_PARAMETERS", DEFAULT_MASKED_PARAMETERS))

    @property
    def LOG_MASKED_URL_KWARGS(self) -> tuple[str, ...]:
        # URL keyword arguments whose values are secrets (Django's reset views: token).
        return tuple(getattr(settings, "SECURITY_LOG_MASKED_URL_KWARGS", DEFAULT_MASKED_URL_KWARGS))

    @property
    def LOG_MASKED_PATH_PATTERNS(self) -> tuple[str, ...]:
        # Regular expressions for secrets in paths that did not resolve, and in referers.
        patterns = getattr(settings, "SECURITY_LOG_MASKED_PATH_PATTERNS", None)
        return tuple(DEFAULT_MASKED_PATH_PATTERNS if patterns is None else patterns)

    @property
    def LOG_FLUSH_INTERVAL(self) -> float:
        return float(getattr(settings, "SECURITY_LOG_FLUSH_INTERVAL", 1.0))

    @property
    def LOG_FLUSH_SIZE(self) -> int:
        return int(getattr(settings, "SECURITY_LOG_FLUSH_SIZE", 500))

    @property
    def LOG_BUFFER_LIMIT(self) -> int:
        return int(getattr(settings, "SECURITY_LOG_BUFFER_LIMIT", 100_000))

    @property
    def LOG_CLAIM_IDLE_SECONDS(self) -> float:
        # A drain that held entries this long without acknowledging them is taken for dead.
        return float(getattr(settings, "SECURITY_LOG_CLAIM_IDLE_SECONDS", 60))

    @property
    def LOG_REPLICA_ACKS(self) -> int:
        # Replicas that must confirm a flushed batch (WAIT) before the web process forgets it:
        # 1 behind Sentinel (a failover would otherwise lose what was not replicated yet).
        default = 1 if self.REDIS_URL.split("://", 1)[0].endswith("+sentinel") else 0
        return int(getattr(settings, "SECURITY_LOG_REPLICA_ACKS", default))

    @property
    def LOG_REPLICA_WAIT(self) -> float:
        # How long a flush waits for them: below the Redis socket time-out.
        return float(getattr(settings, "SECURITY_LOG_REPLICA_WAIT", 0.2))

    @property
    def LOG_DRAIN_LINGER(self) -> float:
        # How long a drain waits for a new entry before it ends: longer than the flush interval,
        # so that one drain keeps up with steady traffic rather than each flush waking another
        # (a wake-up can land on a worker that cannot reach the database).
        return float(getattr(settings, "SECURITY_LOG_DRAIN_LINGER", 1.5))

    @property
    def DRAIN_TRANSACTION_TIMEOUT(self) -> float:
        # PostgreSQL ends a drain's statement, or its session when it goes silent mid-
        # transaction (a cut or dead worker host), after this long: its locks go with it.
        return float(getattr(settings, "SECURITY_DRAIN_TRANSACTION_TIMEOUT", 10.0))

    @property
    def DRAIN_LOCK_TIMEOUT(self) -> float:
        return float(getattr(settings, "SECURITY_DRAIN_LOCK_TIMEOUT", 2.0))

    @property
    def LOG_RETENTION_DAYS(self) -> int:
        return int(getattr(settings, "SECURITY_LOG_RETENTION_DAYS", 30))

    @property
    def ANONYMIZE_AFTER_DAYS(self) -> int | None:
        # None: keep full addresses as long as the rows themselves (LOG_RETENTION_DAYS).
        value = getattr(settings, "SECURITY_ANONYMIZE_AFTER_DAYS", None)
        return None if value is None else int(value)

    @property
    def ANALYTICS_OWN_PATHS(self) -> tuple[str, ...]:
        # Path prefixes counted as the operator's own traffic, beyond the admin, the app's
        # pages and its static files (requestlog/traffic.py).
        return tuple(getattr(settings, "SECURITY_ANALYTICS_OWN_PATHS", ()))

    @property
    def ROLLUP_RETENTION_DAYS(self) -> int:
        return int(getattr(settings, "SECURITY_ROLLUP_RETENTION_DAYS", 400))

    @property
    def BLOCKLIST_CHECK_INTERVAL(self) -> float:
        return float(getattr(settings, "SECURITY_BLOCKLIST_CHECK_INTERVAL", 1.0))

    @property
    def BLOCKLIST_DB_RELOAD_INTERVAL(self) -> float:
        # Used only while Redis cannot tell us the version.
        return float(getattr(settings, "SECURITY_BLOCKLIST_DB_RELOAD_INTERVAL", 3.0))

    @property
    def GEOIP_PATH(self) -> str:
        return str(getattr(settings, "GEOIP_PATH", "geo_data"))

    @property
    def GEOIP_CITY(self) -> str:
        return getattr(settings, "GEOIP_CITY", "GeoLite2-City.mmdb")

    @property
    def GEOIP_ASN(self) -> str:
        return getattr(settings, "GEOIP_ASN", "GeoLite2-ASN.mmdb")

    @property
    def BLOCK_COUNTRIES(self) -> frozenset[str]:
        return frozenset(c.upper() for c in getattr(settings, "SECURITY_BLOCK_COUNTRIES", ()))

    @property
    def ALLOW_COUNTRIES(self) -> frozenset[str]:
        # When set, only these countries get in (addresses no database places are let in).
        return frozenset(c.upper() for c in getattr(settings, "SECURITY_ALLOW_COUNTRIES", ()))

    @property
    def BLOCK_ASNS(self) -> frozenset[int]:
        return frozenset(int(n) for n in getattr(settings, "SECURITY_BLOCK_ASNS", ()))

    @property
    def FEEDS(self) -> dict[str, dict]:
        # Threat feeds by name (blocking/feeds.py); ip_tracking.E009 checks each entry.
        return getattr(settings, "SECURITY_FEEDS", None) or {}

    @property
    def EXPORT(self) -> dict:
        # The edge export after every change (blocking/export.py); {}: none.
        return getattr(settings, "SECURITY_EXPORT", None) or {}

    @property
    def ALERT_WEBHOOK_URL(self) -> str:
        # Slack-compatible incoming webhook; "" sends no alerts.
        return getattr(settings, "SECURITY_ALERT_WEBHOOK_URL", "")

    @property
    def CONSOLE_URL(self) -> str:
        # Where the console is reachable ("https://example.org"): alerts link to address pages.
        return getattr(settings, "SECURITY_CONSOLE_URL", "")

    @property
    def ALERT_WEBHOOK_PER_MINUTE(self) -> int:
        return int(getattr(settings, "SECURITY_ALERT_WEBHOOK_PER_MINUTE", 20))

    @property
    def ALERT_WEBHOOK_TIMEOUT(self) -> float:
        return float(getattr(settings, "SECURITY_ALERT_WEBHOOK_TIMEOUT", 5.0))

    @property
    def METRICS_TOKEN(self) -> str:
        # A bearer token for scrapers; "" accepts none.
        return getattr(settings, "SECURITY_METRICS_TOKEN", "")

    @property
    def METRICS_NETWORKS(self) -> tuple[str, ...]:
        # Client networks (as the app resolves the client IP) allowed to scrape without a token.
        return tuple(getattr(settings, "SECURITY_METRICS_NETWORKS", ()))

    @property
    def GEO_API_URL(self) -> str:
        return getattr(settings, "SECURITY_GEO_API_URL", "")

    @property
    def GEO_API_BATCH_URL(self) -> str:
        return getattr(settings, "SECURITY_GEO_API_BATCH_URL", "")

    @property
    def GEO_API_TIMEOUT(self) -> float:
        return float(getattr(settings, "SECURITY_GEO_API_TIMEOUT", 2.0))

    @property
    def GEO_API_DEADLINE(self) -> float:
        # The most one batch's API calls may hold up storing its rows, whatever the API does.
        return float(getattr(settings, "SECURITY_GEO_API_DEADLINE", 5.0))

    @property
    def GEO_CACHE_SECONDS(self) -> int:
        return int(getattr(settings, "SECURITY_GEO_CACHE_SECONDS", 24 * 3600))

    @property
    def GEO_UNKNOWN_CACHE_SECONDS(self) -> int:
        # An answer we could not get (timeout, 5xx, garbage) is retried sooner than a real one.
        return int(getattr(settings, "SECURITY_GEO_UNKNOWN_CACHE_SECONDS", 300))

    @property
    def GEO_BREAKER_FAILURES(self) -> int:
        return int(getattr(settings, "SECURITY_GEO_BREAKER_FAILURES", 3))

    @property
    def GEO_BREAKER_SECONDS(self) -> int:
        return int(getattr(settings, "SECURITY_GEO_BREAKER_SECONDS", 60))

    @property
    def LOGIN_URL(self) -> str:
        # Where the dashboard sends anonymous visitors: the admin's login exists in every site.
        return getattr(settings, "SECURITY_LOGIN_URL", "admin:login")

    @property
    def RATE_ANONYMOUS(self) -> str:
        return getattr(settings, "SECURITY_RATE_ANONYMOUS", "5/m")

    @property
    def RATE_AUTHENTICATED(self) -> str:
        return getattr(settings, "SECURITY_RATE_AUTHENTICATED", "10/m")

    @property
    def RATE_ACCOUNT_FAILURES(self) -> str:
        # Failed logins per account, from all clients together (credential stuffing).
        return getattr(settings, "SECURITY_RATE_ACCOUNT_FAILURES", "10/15m")

    @property
    def RATELIMIT_USERNAME_FIELDS(self) -> tuple[str, ...]:
        # The POST fields a login form names the account in.
        fields = getattr(settings, "SECURITY_RATELIMIT_USERNAME_FIELDS", DEFAULT_USERNAME_FIELDS)
        return tuple(fields)

    @property
    def RATELIMIT_FAIL_OPEN(self) -> bool:
        return bool(getattr(settings, "SECURITY_RATELIMIT_FAIL_OPEN", True))

    @property
    def RATELIMIT_VIEWS(self) -> tuple[str, ...]:
        # URL names (namespace:name) whose POSTs are limited: every way in to an account.
        return tuple(getattr(settings, "SECURITY_RATELIMIT_VIEWS", DEFAULT_RATELIMIT_VIEWS))

    @property
    def RATELIMIT_PATHS(self) -> tuple[str, ...]:
        # Path prefixes whose POSTs are limited too (views a site cannot name).
        return tuple(getattr(settings, "SECURITY_RATELIMIT_PATHS", ()))

    @property
    def RATELIMIT_METHODS(self) -> tuple[str, ...]:
        return tuple(getattr(settings, "SECURITY_RATELIMIT_METHODS", ("POST",)))

    @property
    def DETECT_SENSITIVE_PATHS(self) -> tuple[str, ...]:
        return tuple(getattr(settings, "SECURITY_DETECT_SENSITIVE_PATHS", ("/admin", "/login")))

    @property
    def AUTO_BLOCK(self) -> bool:
        return bool(getattr(settings, "SECURITY_AUTO_BLOCK", False))

    @property
    def AUTO_BLOCK_ESCALATION(self) -> tuple[str, ...]:
        # Each new automatic block of the same address lasts the next step; the last repeats.
        # A site that set only the older SECURITY_AUTO_BLOCK_DURATION gets that one step.
        steps = getattr(settings, "SECURITY_AUTO_BLOCK_ESCALATION", None)
        if steps is None:
            single = getattr(settings, "SECURITY_AUTO_BLOCK_DURATION", None)
            steps = (single,) if single else ("1h", "4h", "24h", "7d")
        return tuple(str(step) for step in steps)

    @property
    def DETECT_DRY_RUN(self) -> bool:
        # Record what would have been blocked, block nothing: try the rules on live traffic.
        return bool(getattr(settings, "SECURITY_DETECT_DRY_RUN", False))

    @property
    def DETECT_STREAMING(self) -> bool:
        return bool(getattr(settings, "SECURITY_DETECT_STREAMING", True))


conf = SecuritySettings()
