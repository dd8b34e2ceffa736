from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


async def async_trivial(request: HttpRequest) -> HttpResponse:
    # Under ASGI a sync view costs a thread hop per request, in both servers alike; an async
    # view leaves the middleware's own cost visible.
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("trivial/", trivial),
    path("async-trivial/", async_trivial),
    path("", include("project.urls")),
]
