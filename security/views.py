import hmac
import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import dashboard, health, metrics, permissions
from .addresses import parse_address
from .client_ip import get_client_ip
from .conf import conf
from .console.analytics import address_url
from .detection import triage

logger = logging.getLogger(__name__)


def chosen_range(request: HttpRequest) -> str:
    value = request.GET.get("range", "24h")
    return value if value in dashboard.RANGES else "24h"


@permissions.permission_required(*permissions.VIEW_DASHBOARD)
def dashboard_page(request: HttpRequest) -> HttpResponse:
    may_see_suspicious = permissions.may(request, permissions.VIEW_SUSPICIOUS)
    context = {
        "range": chosen_range(request),
        "ranges": list(dashboard.RANGES),
        "may_see_suspicious": may_see_suspicious,
        "may_block": permissions.may(request, permissions.BLOCK),
        "may_admin": request.user.is_staff,
        "suspicious": dashboard.newest_suspicious() if may_see_suspicious else [],
        "address_url": address_url(),
    }
    return render(request, "security/dashboard.html", context)


@permissions.permission_required(*permissions.VIEW_DASHBOARD)
def dashboard_data(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dashboard.summary(chosen_range(request)))


@require_POST
@permissions.permission_required(*permissions.BLOCK)
def block_suspicious(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("ip", "")
    target = parse_address(raw)
    if target is None:
        messages.error(request, f"{raw[:64]!r} is not an IP address; block networks with block_ip")
        return redirect("security:dashboard")
    triage.block_flagged(
        [target],
        reason=f"blocked from the dashboard by {request.user.get_username()}",
        duration=triage.ONE_CLICK_BLOCK,
    )
    messages.success(request, f"{target} is blocked for at least 24 hours.")
    return redirect("security:dashboard")


def may_scrape(request: HttpRequest) -> bool:
    """A bearer token, an allowed client network, or a user allowed to see the dashboard."""
    token = conf.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    ip = get_client_ip(request)
    if ip and conf.METRICS_NETWORKS:
        try:
            if ip in metrics.scraper_networks(conf.METRICS_NETWORKS):
                return True
        except ValueError as error:  # a bad entry admits no network (and E007 said so)
            logger.error("SECURITY_METRICS_NETWORKS: %s", error)
    return permissions.may(request, permissions.VIEW_DASHBOARD)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return HttpResponse(b"Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    status, report = health.state()
    return JsonResponse(report, status=status)
