from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .ratelimits import FALLBACK_RETRY_AFTER


def ratelimited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """RATELIMIT_VIEW: 429 with Retry-After, no traceback logged."""
    retry_after = getattr(request, "ratelimit_retry_after", FALLBACK_RETRY_AFTER)
    response = render(
        request, "security/ratelimited.html", {"retry_after": retry_after}, status=429
    )
    response["Retry-After"] = str(retry_after)
    return response


@staff_member_required(login_url="login")
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "security/dashboard.html")
