from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from . import permissions, requestlog_admin  # noqa: F401  (registers the request log's admin)
from .blocking import changes
from .blocking.admin import TargetFormMixin
from .blocking.blocklist import blocklist
from .detection import triage
from .models import (
    AllowedIP,
    SuspicionStatus,
    SuspiciousIP,
)


@admin.register(AllowedIP)
class AllowedIPAdmin(TargetFormMixin, admin.ModelAdmin):
    list_display = ["ip_address", "reason", "created_at"]
    search_fields = ["ip_address", "reason"]


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
