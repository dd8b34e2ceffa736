"""/security/events/ (filters and a time range in the query string, ?after= the next page's
cursor, ?format=csv) and /security/events/now/ (the last 15 minutes by address, refreshing
itself)."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import geo, permissions
from ..detection import registry
from . import events, now, timerange
from .csvexport import csv_response

FILTERS = ("rule", "country", "path", "status", "ip", "kind", "asn")
REFRESH_SECONDS = 15


def _bad_request(reason: str) -> HttpResponse:
    return HttpResponseBadRequest(reason + "\n", content_type="text/plain; charset=utf-8")


@require_GET
@permissions.permission_required(*permissions.VIEW_DASHBOARD, *permissions.VIEW_SUSPICIOUS)
def events_page(request: HttpRequest) -> HttpResponse:
    try:
        span = timerange.from_query(request.GET)
        filters = events.Filters.from_query(request.GET)
        cursor = events.Cursor.parse(request.GET["after"]) if request.GET.get("after") else None
    except ValueError as error:
        return _bad_request(str(error))
    if filters.asn is not None and geo.raw_asn_database.reader() is None:
        return _bad_request(
            f"the ASN filter needs the GeoLite2-ASN database ({geo.raw_asn_database.path()}); "
            "scripts/update_geodb.sh fetches it"
        )
    chosen = {name: request.GET[name] for name in FILTERS if request.GET.get(name)}
    if request.GET.get("format") == "csv":
        rows, _next = events.page(span, filters, None, events.EXPORT_LIMIT, events.EXPORT_LIMIT)
        columns = ["time", "kind", "ip", "what", "detail", "status", "country"]
        table = ([e.time.isoformat(), e.kind, e.ip, e.what, e.detail, e.status or "", e.country]
                 for e in rows)  # fmt: skip
        return csv_response(f"events-{span.start:%Y%m%d%H}-{span.end:%Y%m%d%H}.csv", columns, table)
    shown, following = events.page(span, filters, cursor)
    query = urlencode({**span.query(), **chosen})
    context = {
        "events": shown,
        "span": span,
        "presets": list(timerange.PRESETS),
        "chosen": chosen,
        "rules": registry.reason_choices(),
        "kinds": events.KINDS,
        "query": query,
        "asn_scan_limit": events.ASN_SCAN_LIMIT if filters.asn is not None else None,
        "next_query": urlencode({**span.query(), **chosen, "after": following.text()})
        if following
        else "",
        "console_page": "events",
        "may_admin": request.user.is_staff,
    }
    return render(request, "security/console/events.html", context)


@require_GET
@permissions.permission_required(*permissions.VIEW_DASHBOARD)
def now_page(request: HttpRequest) -> HttpResponse:
    context = {
        "active": now.active(),
        "minutes": int(now.WINDOW.total_seconds() // 60),
        "refresh": REFRESH_SECONDS,
        "console_page": "now",
        "may_admin": request.user.is_staff,
    }
    return render(request, "security/console/now.html", context)
