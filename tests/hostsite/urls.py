from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the host site's own page")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),  # Django's login and password reset
    path("security/", include("security.urls")),  # README
]
