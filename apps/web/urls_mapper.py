"""STUB for the Data Source page's branch only: the Data Mapper page's
branch owns this module (its real view); at merge take theirs. It names the
route the Data Source page links to (`web:source_mapper`)."""

from django.urls import path

from apps.web import views_sources

urlpatterns: list = [
    path("sources/jobs/<str:code>/mapping/", views_sources.source_job, name="source_mapper"),
]
