"""The admin pages of the blocklist: blocks (with what covers a searched address), feed states,
and the address form every blocklist page shares."""

from typing import Any, cast

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from ..addresses import InvalidInput, parse_target
from ..models import BlockedIP, FeedState
from ..models.blocking import BlockedIPQuerySet
from . import changes


class TargetFormMixin(admin.ModelAdmin):
    """Validate and normalise the address field exactly as the commands do."""

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        original_clean = form.clean

        def clean(self: ModelForm) -> dict[str, Any] | None:
            data = original_clean(self)
            if data and data.get("ip_address"):
                try:
                    data["ip_address"] = parse_target(data["ip_address"])
                    self.instance.ip_address = data["ip_address"]
                except InvalidInput as error:
                    self.add_error("ip_address", str(error))
            return data

        # Wrapping the form class's own clean is the point; django-stubs types it on BaseForm.
        form.clean = clean  # type: ignore[method-assign, assignment]
        return form

    # Every change reaches the compiled blocklists of all processes.
    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        changes.announce_change()

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        super().delete_model(request, obj)
        changes.announce_change()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        changes.announce_change()


@admin.register(BlockedIP)
class BlockedIPAdmin(TargetFormMixin, admin.ModelAdmin):
    list_display = [
        "ip_address",
        "reason",
        "source",
        "feed",
        "created_at",
        "expires_at",
        "is_active",
        "strikes",
    ]
    list_filter = ["source", "feed", ("expires_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["strikes"]
    search_fields = ["ip_address", "reason", "feed"]
    date_hierarchy = "created_at"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """An address or network also finds every block that covers it (a feed's /24)."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        try:
            target = parse_target(search_term, allow_huge=True)
        except InvalidInput:
            return found, duplicates
        return found | cast(BlockedIPQuerySet, queryset).covering(target), duplicates

    @admin.display(boolean=True)
    def is_active(self, obj: BlockedIP) -> bool:
        return obj.is_active


@admin.register(FeedState)
class FeedStateAdmin(admin.ModelAdmin):
    """Read-only: a feed's state is what its refreshes wrote."""

    list_display = ["name", "refreshed_at", "attempted_at", "entries", "last_error"]
    search_fields = ["name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: FeedState | None = None) -> bool:
        return False
