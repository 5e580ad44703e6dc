"""Routes of the Data Source page (`/sources/`): connections with their
test (of the saved settings, or "try" of the form's before saving),
discovery and preview; jobs with their schedule check, run history, Run now
and deletion. The Data Mapper page's routes are in urls_mapper.py."""

from django.urls import path

from apps.web import views_sources as v

urlpatterns: list = [
    path("sources/", v.sources, name="sources"),
    path("sources/connections/new/", v.source_connection_new, name="source_connection_new"),
    path("sources/connections/<str:code>/", v.source_connection, name="source_connection"),
    path("sources/connections/<str:code>/delete/", v.source_connection_delete, name="source_connection_delete"),
    path("sources/connections/<str:code>/test/", v.source_connection_test, name="source_connection_test"),
    path("sources/connections/<str:code>/discover/", v.source_connection_discover, name="source_connection_discover"),
    path("sources/connections/<str:code>/preview/", v.source_connection_preview, name="source_connection_preview"),
    path("sources/connections/<str:code>/jobs/new/", v.source_job_new, name="source_job_new"),
    path("sources/schedule/", v.source_schedule, name="source_schedule"),
    path("sources/jobs/<str:code>/", v.source_job, name="source_job"),
    path("sources/jobs/<str:code>/enabled/", v.source_job_enabled, name="source_job_enabled"),
    path("sources/jobs/<str:code>/run/", v.source_job_run, name="source_job_run"),
    path("sources/jobs/<str:code>/runs/", v.source_job_runs, name="source_job_runs"),
    path("sources/jobs/<str:code>/delete/", v.source_job_delete, name="source_job_delete"),
    path("sources/connections/new/try/", v.source_connection_try, name="source_connection_try_new"),
    path("sources/connections/<str:code>/try/", v.source_connection_try, name="source_connection_try"),
]
