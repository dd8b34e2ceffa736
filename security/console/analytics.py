"""/security/analytics/: the page, its data (?format=json) and each table as CSV
(?format=csv&table=NAME), for any time range (?range= or ?from=&to=), with the operator's own
traffic left out unless ?own=1."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .. import permissions
from . import analytics_output, analytics_report, timerange
from .csvexport import csv_response

PATH_LIMIT = 2000


def _bad_request(reason: str) -> HttpResponse:
    return HttpResponseBadRequest(reason + "\n", content_type="text/plain; charset=utf-8")


@require_GET
@permissions.permission_required(*permissions.VIEW_DASHBOARD)
def analytics_page(request: HttpRequest) -> HttpResponse:
    try:
        span = timerange.from_query(request.GET)
    except ValueError as error:
        return _bad_request(str(error))
    own = request.GET.get("own") == "1"
    path = request.GET.get("path", "")[:PATH_LIMIT]
    wanted = request.GET.get("format", "html")
    if wanted == "json":
        return JsonResponse(analytics_output.report(span, own, path))
    if wanted == "csv":
        name = request.GET.get("table", "")
        if name not in analytics_output.EXPORTS or (name == "path" and not path):
            choices = ", ".join(analytics_output.EXPORTS)
            return _bad_request(f"table must be one of {choices} (path needs ?path=)")
        columns, rows = analytics_output.export(name, span, own, path)
        stamp = f"{span.start:%Y%m%d%H}-{span.end:%Y%m%d%H}"
        return csv_response(f"analytics-{name}-{stamp}.csv", columns, rows)
    if wanted != "html":
        return _bad_request("format must be html, json or csv")
    context = page_context(request, span, own, path)
    return render(request, "security/console/analytics.html", context)


def page_context(request: HttpRequest, span: timerange.TimeRange, own: bool, path: str) -> dict:
    shown = {**span.query(), **({"own": "1"} if own else {}), **({"path": path} if path else {})}
    without_path = {k: v for k, v in shown.items() if k != "path"}
    return {
        "span": span,
        "presets": list(timerange.PRESETS),
        "own": own,
        "path": path,
        "query": urlencode(shown),
        "query_without_path": urlencode(without_path),
        "own_toggle": urlencode(
            {k: v for k, v in shown.items() if k != "own"} | ({} if own else {"own": "1"})
        ),
        "tables": analytics_report.TABLES,
        "address_url": address_url(),
        "console_page": "analytics",
        "may_admin": request.user.is_staff,
    }


def address_url() -> str:
    """Where an address's page is: /security/ip/<address>/ under the app's mount point."""
    return reverse("security:health")[: -len("health")] + "ip/"
