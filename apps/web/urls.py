"""The console's routes: one module per area, each owning its pages and
partials (names in the `web` namespace)."""

from django.urls import path

from apps.web import (
    urls_access,
    urls_dashboard,
    urls_kpis,
    urls_mapper,
    urls_objects,
    urls_ontology,
    urls_simulation,
    urls_sources,
    views,
)

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    *urls_dashboard.urlpatterns,
    *urls_kpis.urlpatterns,
    *urls_ontology.urlpatterns,
    *urls_objects.urlpatterns,
    *urls_simulation.urlpatterns,
    *urls_access.urlpatterns,
    *urls_sources.urlpatterns,
    *urls_mapper.urlpatterns,
]
