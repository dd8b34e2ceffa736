"""Who is refused: blocks (with their source and expiry), the allowlist, feed states; and the
queries other modules share, on the managers (as Django's BaseSessionManager does)."""

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..addresses import covering_targets
from ..matcher import NetworkSet


class BlockSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"
    AUTOMATIC = "automatic", "Automatic"
    FEED = "feed", "Threat feed"


class NetworkQuerySet(models.QuerySet):
    def networks(self) -> NetworkSet:
        """These rows' addresses and networks, compiled for membership tests."""
        return NetworkSet(self.values_list("ip_address", flat=True))


class BlockedIPQuerySet(NetworkQuerySet):
    def active(self) -> "BlockedIPQuerySet":
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))

    def covering(self, target: str) -> "BlockedIPQuerySet":
        """The rows for `target` (a normal-form address or network) and every network that
        covers it, whatever their source or feed."""
        return self.filter(ip_address__in=covering_targets(target))

    def next_expiry(self) -> datetime | None:
        """When the next of these blocks runs out (None: none will)."""
        return (
            self.filter(expires_at__gt=timezone.now())
            .order_by("expires_at")
            .values_list("expires_at", flat=True)
            .first()
        )


class BlockedIP(models.Model):
    # A single address ("203.0.113.7", "2001:db8::1") or a network ("10.0.0.0/8"),
    # always in the normal form that security.targets produces. One row per target for the
    # operator's and automatic blocks (feed ""), and one per target for each feed listing it:
    # a feed owns its rows, so a refresh never skips or removes another source's block.
    ip_address = models.CharField("IP address or network", max_length=49, db_index=True)
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

    objects = BlockedIPQuerySet.as_manager()

    class Meta:
        verbose_name = "blocked IP"
        verbose_name_plural = "blocked IPs"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["ip_address", "feed"], name="blockedip_one_per_feed")
        ]

    def __str__(self) -> str:
        return self.ip_address

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


class AllowedIP(models.Model):
    ip_address = models.CharField("IP address or network", max_length=49, unique=True)
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = NetworkQuerySet.as_manager()

    class Meta:
        verbose_name = "allowlisted IP"
        verbose_name_plural = "allowlisted IPs"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.ip_address


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
