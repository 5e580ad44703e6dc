"""Routes of the Data Mapper page (a job's mapping: `sources/jobs/<code>/mapping/`)."""

from django.urls import path

from apps.web import views_mapper as v

urlpatterns: list = [
    path("sources/jobs/<str:code>/mapping/", v.source_mapper, name="source_mapper"),
    path("sources/jobs/<str:code>/mapping/check/", v.source_mapper_check, name="source_mapper_check"),
    path("sources/jobs/<str:code>/mapping/dry-run/", v.source_mapper_dry_run, name="source_mapper_dry_run"),
]
