from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

from security.ratelimits import sensitive

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("login/", sensitive()(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("security/", include("security.urls")),
]
