from django.urls import path

from . import views
from .console import address_page, analytics, events_page

app_name = "security"

urlpatterns = [
    path("dashboard/", views.dashboard_page, name="dashboard"),
    path("dashboard/data.json", views.dashboard_data, name="dashboard-data"),
    path("dashboard/block/", views.block_suspicious, name="dashboard-block"),
    path("analytics/", analytics.analytics_page, name="analytics"),
    path("events/", events_page.events_page, name="events"),
    path("events/now/", events_page.now_page, name="events-now"),
    path("ip/<path:target>/", address_page.address_page, name="ip"),
    path("metrics", views.metrics_view, name="metrics"),
    path("health", views.health_view, name="health"),
]
