from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from . import permissions
from .blocking import changes
from .blocking.admin import TargetFormMixin
from .blocking.blocklist import blocklist
from .detection import triage
from .models import (
    AllowedIP,
    RequestLog,
    RequestRollup,
    RollupKind,
    SuspicionStatus,
    SuspiciousIP,
)
from .requestlog import traffic


@admin.register(AllowedIP)
class AllowedIPAdmin(TargetFormMixin, admin.ModelAdmin):
    list_display = ["ip_address", "reason", "created_at"]
    search_fields = ["ip_address", "reason"]


def cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows past the page asked for: a full COUNT(*) over millions of log
    rows on every page view is what makes log admins time out, and a fixed cap made every page
    past it a 404."""

    CAP = 10_000
    page_asked = 1

    @cached_property
    def count(self) -> int:
        return cast(QuerySet, self.object_list)[
            : self.page_asked * self.per_page + self.CAP
        ].count()


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"
    CLASSES = {"2xx": (200, 300), "3xx": (300, 400), "4xx": (400, 500), "5xx": (500, 600)}
    CODES = ["403", "404", "429"]

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(k, k) for k in self.CLASSES] + [(code, code) for code in self.CODES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in self.CLASSES:
            low, high = self.CLASSES[value]
            return queryset.filter(status_code__gte=low, status_code__lt=high)
        if value in self.CODES:
            return queryset.filter(status_code=int(value))
        return queryset


class TrafficFilter(admin.SimpleListFilter):
    """Visitors unless asked: the operator's own requests (staff users, the console's pages
    and the app's static files) would fill the first pages. The admin's login stays."""

    title = "traffic"
    parameter_name = "traffic"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("own", "The operator's own"), ("all", "All")]

    def choices(self, changelist: Any) -> Iterator[Any]:
        value = self.value()
        yield {
            "selected": value is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Visitors",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        staff = get_user_model().objects.filter(is_staff=True).values("pk")
        own = Q(user_id__in=staff)
        for prefix in traffic.console_prefixes():
            own |= Q(path__startswith=prefix)
        value = self.value()
        if value == "all":
            return queryset
        return queryset.filter(own) if value == "own" else queryset.exclude(own)


class MethodFilter(admin.SimpleListFilter):
    title = "method"
    parameter_name = "method"
    METHODS = ["GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(m, m) for m in self.METHODS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(method=self.value()) if self.value() else queryset


class CountryFilter(admin.SimpleListFilter):
    """Choices from the rollups (small), not SELECT DISTINCT over the log table."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        codes = (
            RequestRollup.objects.filter(kind=RollupKind.COUNTRY)
            .exclude(key="")
            .values_list("key", flat=True)
            .distinct()
            .order_by("key")[:300]
        )
        return [(code, code) for code in codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(country_code=self.value()) if self.value() else queryset


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = [
        "timestamp",
        "address",
        "method",
        "short_path",
        "short_query",
        "status_code",
        "country",
        "city",
        "username",
        "short_agent",
        "blocked",
    ]
    list_filter = [TrafficFilter, StatusFilter, MethodFilter, CountryFilter, "blocked"]
    search_fields = ["=ip_address", "path"]
    date_hierarchy = "timestamp"
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="path")
    def short_path(self, obj: RequestLog) -> str:
        return cut(obj.path, 80)

    @admin.display(description="query")
    def short_query(self, obj: RequestLog) -> str:
        return cut(obj.query, 60)

    @admin.display(description="user agent")
    def short_agent(self, obj: RequestLog) -> str:
        return cut(obj.user_agent, 50)

    @admin.display(description="IP address", ordering="ip_address")
    def address(self, obj: RequestLog) -> str:
        if not obj.ip_address:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("security:ip", args=[obj.ip_address]), obj.ip_address
        )

    def get_paginator(
        self, request: HttpRequest, queryset: QuerySet, per_page: int, *args: Any, **kwargs: Any
    ) -> Paginator:
        paginator = super().get_paginator(request, queryset, per_page, *args, **kwargs)
        page = request.GET.get("p", "1")
        asked = int(page) if page.isdigit() and len(page) < 9 else 1
        paginator.page_asked = asked  # type: ignore[attr-defined]  # read by CappedCountPaginator
        return paginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
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
        "blocklist_status",
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

    @admin.display(description="status")
    def blocklist_status(self, obj: SuspiciousIP) -> str:
        # What the blocklist does now, not what was once decided: a block ends or is removed.
        if blocklist.is_blocked(obj.ip_address):
            return "blocked"
        if obj.status == SuspicionStatus.BLOCKED:
            return "not blocked (its block ended or was removed)"
        return obj.get_status_display()

    def save_model(
        self, request: HttpRequest, obj: SuspiciousIP, form: ModelForm, change: bool
    ) -> None:
        """Setting Status to Blocked blocks the address for 24 hours (and Allowlisted
        allowlists it), through the same code as the commands."""
        if "status" in form.changed_data and obj.status == SuspicionStatus.BLOCKED:
            if not self.has_block_permission(request):
                raise PermissionDenied
            triage.block_flagged([obj.ip_address], "flagged: " + obj.reason, triage.ONE_CLICK_BLOCK)
            self.message_user(request, f"Blocked {obj.ip_address} for 24 hours.", messages.SUCCESS)
        elif "status" in form.changed_data and obj.status == SuspicionStatus.ALLOWLISTED:
            if not self.has_allowlist_permission(request):
                raise PermissionDenied
            changes.allow([obj.ip_address], reason="allowlisted from the suspicious IPs")
        super().save_model(request, obj, form, change)

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
        changes.allow(ips, reason="allowlisted from the suspicious IPs")
        triage.set_status(ips, SuspicionStatus.ALLOWLISTED)
        self.message_user(request, f"Allowlisted {len(ips)} IP(s).", messages.SUCCESS)

    @admin.action(description="Dismiss (not a threat)", permissions=["dismiss"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet) -> None:
        triage.set_status(self._ips(queryset), SuspicionStatus.DISMISSED)
        self.message_user(request, "Dismissed.", messages.SUCCESS)
