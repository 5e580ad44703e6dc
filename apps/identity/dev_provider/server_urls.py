"""The URL conf of the development provider's own server (`make run` serves it
on a second daphne process, settings analytics_engine.settings.dev_idp): the
provider alone. A separate process because the platform's sign-in callback,
a sync view, calls the token endpoint over HTTP: under one daphne, sync views
share one thread and that call would wait for itself (docs/identity.md)."""

from django.urls import include, path

urlpatterns = [path("idp/", include("apps.identity.dev_provider.urls"))]
