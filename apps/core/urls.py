"""URL helpers shared by every app's routes."""

from django.urls import re_path


def path_optional_slash(route: str, view, name: str | None = None):
    """A route that answers with and without its trailing slash (API.md)."""
    return re_path(rf"^{route.rstrip('/')}/?$", view, name=name)
