from django.http import HttpRequest, HttpResponse
from django.urls import path

from project.urls import urlpatterns as project_urls


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a view that fails")


def who(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username())


urlpatterns = [path("boom/", boom), path("who/", who), *project_urls]
