from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views import View

from project.urls import urlpatterns as project_urls
from security.ratelimits import rate_limit


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a view that fails")


def who(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username())


@rate_limit()
async def async_contact(request: HttpRequest) -> HttpResponse:
    return HttpResponse("sent asynchronously")


def token(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a token")


class Contact(View):
    def post(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("sent")


urlpatterns = [
    path("boom/", boom),
    path("who/", who),
    path("contact/", rate_limit()(Contact.as_view())),
    path("async-contact/", async_contact),
    # Limited without a decorator: by URL name (Django's own view) and by path prefix.
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path("api/token/", token),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    *project_urls,
]
