from django.db import models
from django.utils import timezone

from .. import rule_classes


class SuspicionStatus(models.TextChoices):
    NEW = "new", "New"
    BLOCKED = "blocked", "Blocked"
    ALLOWLISTED = "allowlisted", "Allowlisted"
    DISMISSED = "dismissed", "Dismissed"


class SuspiciousIP(models.Model):
    ip_address = models.GenericIPAddressField()
    # Choices: every rule SECURITY_DETECT_RULE_CLASSES lists (a callable, so no migration).
    reason = models.CharField(max_length=16, choices=rule_classes.reason_choices)
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
