"""/security/ip/<address or network>/: the report of console/address.py as a page, and its
actions (block for a duration, unblock, allowlist, forget) as POSTs to the same URL, each
behind its own permission."""

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone

from .. import permissions, privacy
from ..blocking import changes
from ..targets import InvalidInput, parse_target
from . import address

DURATIONS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "forever": None,
}
ACTIONS = {
    "block": permissions.BLOCK,
    "unblock": permissions.UNBLOCK,
    "allow": permissions.ALLOWLIST,
    "forget": permissions.FORGET,
}


def _bad_request(reason: str) -> HttpResponse:
    return HttpResponseBadRequest(reason + "\n", content_type="text/plain; charset=utf-8")


@permissions.permission_required(*permissions.VIEW_DASHBOARD)
def address_page(request: HttpRequest, target: str) -> HttpResponse:
    if request.method == "POST":
        return act(request, target)
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    before = None
    if request.GET.get("before"):
        try:
            before = datetime.fromisoformat(request.GET["before"])
        except ValueError:
            return _bad_request("before must be an ISO timestamp (the page's own link)")
    try:
        found = address.report(target, before)
    except InvalidInput as error:
        return _bad_request(str(error))
    may = {name: permissions.may(request, needed) for name, needed in ACTIONS.items()}
    context = {
        "report": found,
        "may": may,
        "may_see_flags": permissions.may(request, permissions.VIEW_SUSPICIOUS),
        "durations": list(DURATIONS),
        "exact_block": next((b for b in found.blocks if b.exact), None),
        "exact_allowed": next((a for a in found.allowlist if a.exact), None),
        "console_page": "address",
        "may_admin": request.user.is_staff,
    }
    return render(request, "security/console/address.html", context)


def act(request: HttpRequest, text: str) -> HttpResponse:
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return _bad_request(f"action must be one of {', '.join(ACTIONS)}")
    if not permissions.may(request, ACTIONS[action]):
        raise PermissionDenied
    try:
        target = parse_target(text, allow_huge=action in ("unblock", "forget"))
    except InvalidInput as error:
        messages.error(request, str(error))
        return redirect("security:ip", target=text[:64])
    who = request.user.get_username()
    if action == "block":
        choice = request.POST.get("duration", "24h")
        if choice not in DURATIONS:
            return _bad_request(f"duration must be one of {', '.join(DURATIONS)}")
        duration = DURATIONS[choice]
        expires_at = timezone.now() + duration if duration else None
        changes.block([target], f"blocked from the console by {who}", expires_at)
        until = f"until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "until unblocked"
        messages.success(request, f"{target} is blocked {until}.")
    elif action == "unblock":
        removed = changes.unblock([target])
        left = [b.target for b in address.report(target).blocks if b.active]
        still = f"; still blocked by {', '.join(left)}" if left else ""
        messages.success(request, f"{'Unblocked' if removed else 'No block of'} {target}{still}.")
    elif action == "allow":
        changes.allow([target], f"allowlisted from the console by {who}")
        messages.success(request, f"{target} is allowlisted: no block applies to it.")
    else:
        result = privacy.forget(target)
        messages.success(request, f"Forgot {target}: {result.summary()}.")
    return redirect("security:ip", target=target)
