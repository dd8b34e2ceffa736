"""The request log's admin list at size (millions of rows): every query it runs is bounded.

- The count stops CAP rows past the page asked for (CappedCountPaginator).
- Time is chosen with the "when" filter through the timestamp index. Django's date_hierarchy
  lists the months and days holding rows with a SELECT DISTINCT over the whole table (4.9 s
  at 10 million rows).
- The search box takes an address or a CIDR network (the address index), or else part of a
  path, looked for among the newest SEARCH_ROWS requests only: a substring search has no index.
- Visitors by default: the operator's own traffic is left out unless asked for.
- No facet counts ("Show counts" is a COUNT per filter choice over the whole table).
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from .console import scope
from .models import RequestLog, RequestRollup, RollupKind
from .requestlog import traffic
from .targets import InvalidInput, parse_target

SEARCH_ROWS = 100_000


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


class PeriodFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"
    PERIODS = {
        "1h": ("Last hour", timedelta(hours=1)),
        "24h": ("Last 24 hours", timedelta(hours=24)),
        "7d": ("Last 7 days", timedelta(days=7)),
        "30d": ("Last 30 days", timedelta(days=30)),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.PERIODS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        period = self.PERIODS.get(self.value() or "")
        return queryset.filter(timestamp__gte=timezone.now() - period[1]) if period else queryset


def search_recent_paths(queryset: QuerySet, term: str) -> tuple[QuerySet, Any]:
    """Rows among the newest SEARCH_ROWS of `queryset` whose path holds `term`, and the time
    the search reached back to (None: it covered every row)."""
    newest = queryset.order_by("-timestamp").values_list("timestamp", flat=True)
    reached = newest[SEARCH_ROWS - 1 : SEARCH_ROWS].first()
    if reached is not None:
        queryset = queryset.filter(timestamp__gte=reached)
    return queryset.filter(path__icontains=term), reached


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
    list_filter = [
        TrafficFilter,
        PeriodFilter,
        StatusFilter,
        MethodFilter,
        CountryFilter,
        "blocked",
    ]
    search_fields = ["path"]  # for the box: get_search_results() decides what a term means
    search_help_text = (
        f"An address or CIDR network, or part of a path (among the newest {SEARCH_ROWS:,})."
    )
    paginator = CappedCountPaginator
    show_full_result_count = False
    # "Show counts" would COUNT every choice of every filter over the whole table.
    show_facets = admin.ShowFacets.NEVER
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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            target = parse_target(term, allow_huge=True)
        except InvalidInput:
            found, reached = search_recent_paths(queryset, term[:500])
            if reached is not None:
                self.message_user(request, f"Paths searched among the newest {SEARCH_ROWS:,} "
                                  f"requests (since {reached:%Y-%m-%d %H:%M} UTC).",
                                  messages.INFO)  # fmt: skip
            return found, False
        return scope.filter_target(queryset, target), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
