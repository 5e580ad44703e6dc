"""Routes of the demo dashboard (`/`, routed in urls.py as `web:home`): its
regions (live KPI widgets, trend chart) and the tenant switcher."""

from django.urls import path

from apps.web import views_dashboard

urlpatterns = [
    path("dashboard/widgets/", views_dashboard.dashboard_widgets, name="dashboard_widgets"),
    path("dashboard/trend/", views_dashboard.dashboard_trend, name="dashboard_trend"),
    path("client/", views_dashboard.client_switch, name="client_switch"),
]
