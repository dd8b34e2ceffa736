from django.urls import path

from . import views

app_name = "security"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
]
