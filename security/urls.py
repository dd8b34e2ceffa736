from django.urls import path

from . import views

app_name = "security"

urlpatterns = [
    path("dashboard/", views.dashboard_page, name="dashboard"),
    path("dashboard/data.json", views.dashboard_data, name="dashboard-data"),
    path("dashboard/block/", views.block_suspicious, name="dashboard-block"),
    path("metrics", views.metrics_view, name="metrics"),
    path("health", views.health_view, name="health"),
]
