from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import dashboard, detection
from .ratelimits import FALLBACK_RETRY_AFTER
from .targets import InvalidInput, parse_target

staff_only = staff_member_required(login_url="login")


def ratelimited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """RATELIMIT_VIEW: 429 with Retry-After, no traceback logged."""
    retry_after = getattr(request, "ratelimit_retry_after", FALLBACK_RETRY_AFTER)
    response = render(
        request, "security/ratelimited.html", {"retry_after": retry_after}, status=429
    )
    response["Retry-After"] = str(retry_after)
    return response


def chosen_range(request: HttpRequest) -> str:
    value = request.GET.get("range", "24h")
    return value if value in dashboard.RANGES else "24h"


@staff_only
def dashboard_page(request: HttpRequest) -> HttpResponse:
    context = {
        "range": chosen_range(request),
        "ranges": list(dashboard.RANGES),
        "suspicious": dashboard.newest_suspicious(),
    }
    return render(request, "security/dashboard.html", context)


@staff_only
def dashboard_data(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dashboard.summary(chosen_range(request)))


@staff_only
@require_POST
def block_suspicious(request: HttpRequest) -> HttpResponse:
    try:
        target = parse_target(request.POST.get("ip", ""))
    except InvalidInput as error:
        messages.error(request, str(error))
        return redirect("security:dashboard")
    detection.block_flagged(
        [target],
        reason=f"blocked from the dashboard by {request.user.get_username()}",
        duration=detection.ONE_CLICK_BLOCK,
    )
    messages.success(request, f"{target} is blocked for 24 hours.")
    return redirect("security:dashboard")
