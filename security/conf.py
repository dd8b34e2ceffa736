"""The app's settings, each with its default, read at use time so override_settings works."""

from django.conf import settings


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
        return dict(
            getattr(
                settings,
                "REDIS_CLIENT_OPTIONS",
                {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            )
        )

    @property
    def LOG_STREAM(self) -> str:
        return getattr(settings, "SECURITY_LOG_STREAM", "security:requestlog")

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
    def LOG_DRAIN_LINGER(self) -> float:
        # How long a drain waits for a new entry before it ends (below the Redis socket timeout).
        return float(getattr(settings, "SECURITY_LOG_DRAIN_LINGER", 0.4))

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
    def ALERT_WEBHOOK_URL(self) -> str:
        # Slack-compatible incoming webhook; "" sends no alerts.
        return getattr(settings, "SECURITY_ALERT_WEBHOOK_URL", "")

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
    def RATELIMIT_FAIL_OPEN(self) -> bool:
        return bool(getattr(settings, "SECURITY_RATELIMIT_FAIL_OPEN", True))

    @property
    def RATELIMIT_VIEWS(self) -> tuple[str, ...]:
        # URL names (namespace:name) whose POSTs are limited: every way in to an account.
        return tuple(
            getattr(
                settings,
                "SECURITY_RATELIMIT_VIEWS",
                (
                    "login",
                    "admin:login",
                    "password_reset",
                    "admin_password_reset",
                    "password_reset_confirm",
                ),
            )
        )

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
