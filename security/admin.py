from datetime import timedelta

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from . import blocklist, permissions
from .addresses import InvalidInput, parse_target
from .detection import triage
from .models import (
    AllowedIP,
    BlockedIP,
    RequestLog,
    RequestRollup,
    RollupKind,
    SuspicionStatus,
    SuspiciousIP,
)


class TargetFormMixin:
    """Validate and normalise the address field exactly as the commands do."""

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        original_clean = form.clean

        def clean(self):
            data = original_clean(self)
            if data.get("ip_address"):
                try:
                    data["ip_address"] = parse_target(data["ip_address"])
                    self.instance.ip_address = data["ip_address"]
                except InvalidInput as error:
                    self.add_error("ip_address", str(error))
            return data

        form.clean = clean
        return form

    # Every change reaches the compiled blocklists of all processes.
    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        blocklist.announce_change()

    def delete_model(self, request: HttpRequest, obj) -> None:
        super().delete_model(request, obj)
        blocklist.announce_change()

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        super().delete_queryset(request, queryset)
        blocklist.announce_change()


@admin.register(BlockedIP)
class BlockedIPAdmin(TargetFormMixin, admin.ModelAdmin):
    list_display = [
        "ip_address",
        "reason",
        "source",
        "created_at",
        "expires_at",
        "is_active",
        "strikes",
    ]
    list_filter = ["source", ("expires_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["strikes"]
    search_fields = ["ip_address", "reason"]
    date_hierarchy = "created_at"

    @admin.display(boolean=True)
    def is_active(self, obj: BlockedIP) -> bool:
        return obj.is_active


@admin.register(AllowedIP)
class AllowedIPAdmin(TargetFormMixin, admin.ModelAdmin):
    list_display = ["ip_address", "reason", "created_at"]
    search_fields = ["ip_address", "reason"]


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: a full COUNT(*) over millions of log rows on every page view
    is what makes log admins time out."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"
    CLASSES = {"2xx": (200, 300), "3xx": (300, 400), "4xx": (400, 500), "5xx": (500, 600)}
    CODES = ["403", "404", "429"]

    def lookups(self, request, model_admin):
        return [(k, k) for k in self.CLASSES] + [(code, code) for code in self.CODES]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in self.CLASSES:
            low, high = self.CLASSES[value]
            return queryset.filter(status_code__gte=low, status_code__lt=high)
        if value in self.CODES:
            return queryset.filter(status_code=int(value))
        return queryset


class MethodFilter(admin.SimpleListFilter):
    title = "method"
    parameter_name = "method"
    METHODS = ["GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]

    def lookups(self, request, model_admin):
        return [(m, m) for m in self.METHODS]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(method=self.value()) if self.value() else queryset


class CountryFilter(admin.SimpleListFilter):
    """Choices from the rollups (small), not SELECT DISTINCT over the log table."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request, model_admin):
        codes = (
            RequestRollup.objects.filter(kind=RollupKind.COUNTRY)
            .exclude(key="")
            .values_list("key", flat=True)
            .distinct()
            .order_by("key")[:300]
        )
        return [(code, code) for code in codes]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(country_code=self.value()) if self.value() else queryset


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = [
        "timestamp",
        "ip_address",
        "method",
        "short_path",
        "status_code",
        "country",
        "city",
        "username",
        "blocked",
    ]
    list_filter = [StatusFilter, MethodFilter, CountryFilter, "blocked"]
    search_fields = ["=ip_address", "path"]
    date_hierarchy = "timestamp"
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="path")
    def short_path(self, obj: RequestLog) -> str:
        return obj.path if len(obj.path) <= 80 else obj.path[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SuspiciousIP)
class SuspiciousIPAdmin(admin.ModelAdmin):
    list_display = [
        "ip_address",
        "reason",
        "signature",
        "requests",
        "window_start",
        "last_seen",
        "detected_by",
        "status",
        "would_block",
    ]
    list_filter = ["reason", "status", "detected_by", "would_block"]
    search_fields = ["=ip_address"]
    date_hierarchy = "window_start"
    actions = ["block_for_a_day", "block_permanently", "allowlist", "dismiss"]
    readonly_fields = [
        "ip_address",
        "reason",
        "window_start",
        *SuspiciousIP.DETECTED_FIELDS,
        "signature",
        "detected_by",
        "would_block",
        "detected_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Each action needs the permission of what it changes (security.permissions).
    def has_block_permission(self, request: HttpRequest) -> bool:
        return permissions.may(request, permissions.BLOCK)

    def has_allowlist_permission(self, request: HttpRequest) -> bool:
        return permissions.may(request, permissions.ALLOWLIST)

    def has_dismiss_permission(self, request: HttpRequest) -> bool:
        return permissions.may(request, permissions.DISMISS)

    def _ips(self, queryset: QuerySet) -> list[str]:
        return sorted(set(queryset.values_list("ip_address", flat=True)))

    def _block(
        self, request: HttpRequest, queryset: QuerySet, duration: timedelta | None, how: str
    ) -> None:
        ips = self._ips(queryset)
        triage.block_flagged(ips, reason="flagged by the anomaly scan", duration=duration)
        self.message_user(request, f"Blocked {len(ips)} IP(s) {how}.", messages.SUCCESS)

    @admin.action(description="Block selected IPs for 24 hours", permissions=["block"])
    def block_for_a_day(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._block(request, queryset, triage.ONE_CLICK_BLOCK, "for 24 hours")

    @admin.action(description="Block selected IPs permanently", permissions=["block"])
    def block_permanently(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._block(request, queryset, None, "permanently")

    @admin.action(
        description="Allowlist selected IPs (never block or flag them)", permissions=["allowlist"]
    )
    def allowlist(self, request: HttpRequest, queryset: QuerySet) -> None:
        ips = self._ips(queryset)
        blocklist.allow(ips, reason="allowlisted from the suspicious IPs")
        triage.set_status(ips, SuspicionStatus.ALLOWLISTED)
        self.message_user(request, f"Allowlisted {len(ips)} IP(s).", messages.SUCCESS)

    @admin.action(description="Dismiss (not a threat)", permissions=["dismiss"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet) -> None:
        triage.set_status(self._ips(queryset), SuspicionStatus.DISMISSED)
        self.message_user(request, "Dismissed.", messages.SUCCESS)
