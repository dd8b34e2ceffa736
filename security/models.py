from django.conf import settings
from django.db import models
from django.utils import timezone


class RequestLog(models.Model):
    # Unique per request, minted in the web process: the drain may deliver a record twice
    # (at-least-once), the database keeps it once.
    record_id = models.UUIDField(unique=True, editable=False)
    timestamp = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    method = models.CharField(max_length=16)
    path = models.CharField(max_length=2000)
    # Bounded and cleaned like the path: most exploit payloads travel in the query string.
    query = models.CharField(max_length=1000, blank=True)
    status_code = models.PositiveSmallIntegerField()
    duration_ms = models.PositiveIntegerField(default=0)
    # No database constraint: a user deleted between the request and the drain must not
    # make the whole batch fail. The username survives the user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    referer = models.CharField(max_length=512, blank=True)
    blocked = models.BooleanField(default=False, help_text="Turned away by the blocklist.")
    country_code = models.CharField(max_length=2, blank=True)
    country = models.CharField(max_length=64, blank=True)
    city = models.CharField(max_length=128, blank=True)
    geo_source = models.CharField(max_length=8, blank=True)

    class Meta:
        ordering = ["-timestamp"]
        indexes = [
            models.Index(fields=["timestamp"], name="reqlog_time"),
            models.Index(fields=["ip_address", "timestamp"], name="reqlog_ip_time"),
        ]

    def __str__(self) -> str:
        return f"{self.ip_address} {self.method} {self.path[:80]} {self.status_code}"


class BlockSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"
    AUTOMATIC = "automatic", "Automatic"
    FEED = "feed", "Threat feed"


class BlockedIP(models.Model):
    # A single address ("203.0.113.7", "2001:db8::1") or a network ("10.0.0.0/8"),
    # always in the normal form that security.targets produces.
    ip_address = models.CharField("IP address or network", max_length=49, unique=True)
    reason = models.CharField(max_length=255, blank=True)
    source = models.CharField(
        max_length=16, choices=BlockSource.choices, default=BlockSource.MANUAL
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Automatic blocks of this address so far: each new one lasts longer (escalation). The row
    # outlives an expired block, so the count survives too.
    strikes = models.PositiveSmallIntegerField(default=0)
    # The threat feed an entry came from (source "feed"): a refresh replaces only its own.
    feed = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        verbose_name = "blocked IP"
        verbose_name_plural = "blocked IPs"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.ip_address

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


class AllowedIP(models.Model):
    ip_address = models.CharField("IP address or network", max_length=49, unique=True)
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "allowlisted IP"
        verbose_name_plural = "allowlisted IPs"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.ip_address


class SuspicionReason(models.TextChoices):
    HIGH_VOLUME = "high_volume", "High request volume"
    PROBE = "probe", "Probe of a well-known attack path"
    EXPLOIT = "exploit", "Exploit or backdoor request"
    TRAVERSAL = "traversal", "Path traversal"
    INJECTION = "injection", "SQL injection, XSS or code in the request"
    SCANNER = "scanner", "Scanner user agent"
    SENSITIVE = "sensitive", "Sensitive paths"
    NOT_FOUND = "not_found", "Many distinct 404s (scanning)"
    RATE_LIMITED = "rate_limited", "Repeatedly rate-limited"
    CACHE_BUSTING = "cache_busting", "One page with ever-new query strings"
    UA_ROTATION = "ua_rotation", "Rotating user agents"


class SuspicionStatus(models.TextChoices):
    NEW = "new", "New"
    BLOCKED = "blocked", "Blocked"
    ALLOWLISTED = "allowlisted", "Allowlisted"
    DISMISSED = "dismissed", "Dismissed"


class SuspiciousIP(models.Model):
    ip_address = models.GenericIPAddressField()
    reason = models.CharField(max_length=16, choices=SuspicionReason.choices)
    # The scan window, by the hour it started in: one row per (IP, reason, window).
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    requests = models.PositiveIntegerField(help_text="Requests matching the reason.")
    total_requests = models.PositiveIntegerField(default=0)
    evidence = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    detected_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=12, choices=SuspicionStatus.choices, default=SuspicionStatus.NEW
    )
    # Which signature entry matched ("" for counting rules), and how it was found.
    signature = models.CharField(max_length=200, blank=True)
    detected_by = models.CharField(max_length=8, blank=True, help_text="stream or scan")
    would_block = models.BooleanField(
        default=False, help_text="Dry run: an automatic block would have been made."
    )

    class Meta:
        verbose_name = "suspicious IP"
        verbose_name_plural = "suspicious IPs"
        ordering = ["-window_start", "-requests"]
        constraints = [
            models.UniqueConstraint(
                fields=["ip_address", "reason", "window_start"], name="suspicious_once_per_window"
            )
        ]
        indexes = [models.Index(fields=["-detected_at"], name="suspicious_detected")]

    # What a scan writes into an existing (IP, reason, window) row when it sees it again.
    DETECTED_FIELDS = (
        "window_end",
        "requests",
        "total_requests",
        "evidence",
        "first_seen",
        "last_seen",
    )

    def __str__(self) -> str:
        return f"{self.ip_address} ({self.get_reason_display()})"


class RollupKind(models.TextChoices):
    TOTAL = "total", "All requests"
    STATUS = "status", "Status code"
    COUNTRY = "country", "Country"
    IP = "ip", "IP address"
    PATH = "path", "Path"
    BLOCKED = "blocked", "Blocked"


class RequestRollup(models.Model):
    """Hourly request counts by one dimension, kept by the drain so the dashboard reads a few
    hundred rows instead of aggregating millions of RequestLog rows per page view. A count may
    be split over a few shards (see requestlog/rollups.py): read it with Sum("count")."""

    hour = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=RollupKind.choices)
    key = models.CharField(max_length=200, blank=True)
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "kind", "key", "shard"], name="rollup_once_per_shard"
            )
        ]
        indexes = [models.Index(fields=["kind", "hour"], name="rollup_kind_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.kind}={self.key}: {self.count}"


class FeedState(models.Model):
    """The last refresh of a threat feed, for the admin and the refresh schedule."""

    name = models.CharField(max_length=64, unique=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    entries = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScheduledRun(models.Model):
    """One slot of a periodic job: recorded and sent by the active scheduler, marked finished
    by the worker that ran it (see security/scheduling.py)."""

    job = models.CharField(max_length=100)
    slot = models.DateTimeField(help_text="The time the cron schedule named (UTC).")
    sent_at = models.DateTimeField()
    sends = models.PositiveSmallIntegerField(default=1)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="run_once_per_slot")]
        indexes = [models.Index(fields=["finished_at", "slot"], name="run_unfinished")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot:%Y-%m-%d %H:%M}"
