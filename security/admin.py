from django.contrib import admin
from django.http import HttpRequest

from . import blocklist
from .models import AllowedIP, BlockedIP, RequestLog, SuspiciousIP
from .targets import InvalidInput, parse_target


class TargetFormMixin:
    """Normalise and validate the address field like the commands do."""

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


@admin.register(BlockedIP)
class BlockedIPAdmin(TargetFormMixin, admin.ModelAdmin):
    list_display = ["ip_address", "reason", "source", "created_at", "expires_at", "is_active"]
    list_filter = ["source", ("expires_at", admin.EmptyFieldListFilter)]
    search_fields = ["ip_address", "reason"]
    date_hierarchy = "created_at"

    @admin.display(boolean=True)
    def is_active(self, obj: BlockedIP) -> bool:
        return obj.is_active

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        blocklist.announce_change()

    def delete_model(self, request: HttpRequest, obj) -> None:
        super().delete_model(request, obj)
        blocklist.announce_change()

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        super().delete_queryset(request, queryset)
        blocklist.announce_change()


@admin.register(AllowedIP)
class AllowedIPAdmin(BlockedIPAdmin):
    list_display = ["ip_address", "reason", "created_at"]
    list_filter = []
    date_hierarchy = None


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "ip_address", "method", "path", "status_code", "country", "city"]
    list_filter = ["status_code", "method", "blocked"]
    search_fields = ["=ip_address", "path"]
    date_hierarchy = "timestamp"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SuspiciousIP)
class SuspiciousIPAdmin(admin.ModelAdmin):
    list_display = ["ip_address", "reason", "requests", "window_start", "status", "last_seen"]
    list_filter = ["reason", "status"]
    search_fields = ["=ip_address"]
