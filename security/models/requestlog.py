from django.conf import settings
from django.db import models


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
            # The security events' 403s and 429s, newest first, without walking every request.
            models.Index(
                fields=["-timestamp"],
                condition=models.Q(status_code__in=[403, 429]),
                name="reqlog_refused_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ip_address} {self.method} {self.path[:80]} {self.status_code}"
