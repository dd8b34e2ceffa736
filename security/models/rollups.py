from django.db import models


class RollupKind(models.TextChoices):
    TOTAL = "total", "All requests"
    STATUS = "status", "Status code"
    COUNTRY = "country", "Country"
    IP = "ip", "IP address"
    PATH = "path", "Path"
    BLOCKED = "blocked", "Blocked"
    # Analytics (requestlog/analytics.py): "v." counts the site's visitors, "o." the operator's
    # own traffic (staff, admin, console, the app's static files); ":d" rows count a whole UTC
    # day (hour = its midnight), made from the hourly rows of the many-keyed dimensions once
    # the day is over (requestlog/compaction.py), so a month is read from a thirtieth of them.
    # Visitors' addresses per hour are IP less O_HOST.
    V_HITS = "v.hits", "Visitors: requests by people or bots"
    O_HITS = "o.hits", "Own traffic: requests"
    V_VIEWS = "v.views", "Visitors: pageviews"
    O_VIEWS = "o.views", "Own traffic: pageviews"
    V_STATUS = "v.status", "Visitors: status code"
    O_STATUS = "o.status", "Own traffic: status code"
    V_BROWSER = "v.browser", "Visitors: browser"
    O_BROWSER = "o.browser", "Own traffic: browser"
    V_OS = "v.os", "Visitors: operating system"
    O_OS = "o.os", "Own traffic: operating system"
    V_DEVICE = "v.device", "Visitors: device"
    O_DEVICE = "o.device", "Own traffic: device"
    V_BOT = "v.bot", "Visitors: bot"
    O_BOT = "o.bot", "Own traffic: bot"
    V_COUNTRY = "v.country", "Visitors: country"
    O_COUNTRY = "o.country", "Own traffic: country"
    V_PAGE = "v.page", "Visitors: pageviews by path"
    V_PAGE_DAY = "v.page:d", "Visitors: pageviews by path, per day"
    O_PAGE = "o.page", "Own traffic: pageviews by path"
    O_PAGE_DAY = "o.page:d", "Own traffic: pageviews by path, per day"
    V_STATIC = "v.static", "Visitors: static files"
    V_STATIC_DAY = "v.static:d", "Visitors: static files, per day"
    O_STATIC = "o.static", "Own traffic: static files"
    O_STATIC_DAY = "o.static:d", "Own traffic: static files, per day"
    V_MISSING = "v.missing", "Visitors: not-found paths"
    V_MISSING_DAY = "v.missing:d", "Visitors: not-found paths, per day"
    O_MISSING = "o.missing", "Own traffic: not-found paths"
    O_MISSING_DAY = "o.missing:d", "Own traffic: not-found paths, per day"
    V_REFERER = "v.referer", "Visitors: referring sites"
    V_REFERER_DAY = "v.referer:d", "Visitors: referring sites, per day"
    O_REFERER = "o.referer", "Own traffic: referring sites"
    O_REFERER_DAY = "o.referer:d", "Own traffic: referring sites, per day"
    V_CITY = "v.city", "Visitors: city"
    V_CITY_DAY = "v.city:d", "Visitors: city, per day"
    O_CITY = "o.city", "Own traffic: city"
    O_CITY_DAY = "o.city:d", "Own traffic: city, per day"
    V_PATH_STATUS = "v.pstatus", "Visitors: status by path"
    V_PATH_STATUS_DAY = "v.pstatus:d", "Visitors: status by path, per day"
    O_PATH_STATUS = "o.pstatus", "Own traffic: status by path"
    O_PATH_STATUS_DAY = "o.pstatus:d", "Own traffic: status by path, per day"
    V_HOST_DAY = "v.host:d", "Visitors: address, per day"
    O_HOST = "o.host", "Own traffic: address"
    O_HOST_DAY = "o.host:d", "Own traffic: address, per day"


# Rollup kinds keyed by a client address: anonymisation and forget_ip treat them alike.
ADDRESS_KINDS = (
    RollupKind.IP,
    RollupKind.V_HOST_DAY,
    RollupKind.O_HOST,
    RollupKind.O_HOST_DAY,
)


class RequestRollup(models.Model):
    """Hourly request counts by one dimension, kept by the drain so the dashboard reads a few
    hundred rows instead of aggregating millions of RequestLog rows per page view. A count may
    be split over a few shards (see requestlog/rollups.py): read it with Sum("count")."""

    hour = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=RollupKind.choices)
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


class RollupCompaction(models.Model):
    """One row: the UTC day before which the many-keyed analytics dimensions have their daily
    rollups (requestlog/compaction.py)."""

    daily_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"daily rollups until {self.daily_until:%Y-%m-%d}"


class SketchSpan(models.TextChoices):
    HOUR = "h", "Hour"
    DAY = "d", "Day (UTC)"


class Audience(models.TextChoices):
    PEOPLE = "people", "People"
    BOTS = "bots", "Bots"
    OWN = "own", "Own traffic"


class VisitorSketch(models.Model):
    """Distinct client addresses of one hour or day, as a HyperLogLog sketch (Apache
    DataSketches): exact up to about a thousand addresses, within 1% above, a few kilobytes
    each, and mergeable, so a month's visitors are the union of 30 sketches. Items are keyed
    hashes of the addresses (requestlog/sketches.py): a sketch names no one. Split over shards
    like the rollups; read with sketches.union()."""

    period = models.DateTimeField(help_text="Start of the hour or UTC day.")
    span = models.CharField(max_length=1, choices=SketchSpan.choices)
    audience = models.CharField(max_length=8, choices=Audience.choices)
    shard = models.PositiveSmallIntegerField(default=0)
    sketch = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["span", "period", "audience", "shard"], name="sketch_once_per_shard"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_span_display()} {self.period:%Y-%m-%d %H:00} {self.audience}"
