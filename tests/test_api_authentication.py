"""Every API endpoint refuses anonymous callers with 401 in the API's error
shape, never a 500 (API.md, Conventions), whatever the method. Endpoints are
found from the URL configuration, so a new one is covered without listing it."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

PUBLIC = {"api/v1/auth/token/", "api/v1/auth/token/refresh/", "api/v1/auth/logout/", "api/v1/schema/", "api/v1/docs/"}


def _routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _example_path(route: str) -> str:
    path = route.replace("^", "").replace("$", "").replace("\\.", ".")
    path = re.sub(
        r"\(\?P<[^>]+>([^)]*)\)", lambda m: "1" if re.search(r"0-9|\\d", m.group(1)) else "x", path
    )  # regex groups: a number where the group wants digits
    path = re.sub(r"<[^>]+>", "1", path)  # path converters
    path = path.replace("/?", "/").replace("\\", "")
    path = re.sub(r"\(\?:[^)]*\)\??", "", path)
    return "/" + path


def api_paths() -> list[str]:
    paths = set()
    for route in _routes(get_resolver().url_patterns):
        path = _example_path(route)
        if path.startswith("/api/v1/") and "format" not in route and "." not in path.rsplit("/", 1)[-1]:
            paths.add(path if path.endswith("/") else path + "/")
    return sorted(p for p in paths if p.lstrip("/") not in PUBLIC)


def test_the_api_has_endpoints_to_check():
    paths = api_paths()
    assert "/api/v1/metrics/x/" in paths and "/api/v1/query/" in paths and "/api/v1/ontology/entities/" in paths


@pytest.mark.django_db
@pytest.mark.parametrize("path", api_paths())
def test_anonymous_callers_get_401(client, path):
    for method in ("get", "post", "put", "delete"):
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code == 401, (method, path, response.status_code, response.content[:200])
        assert response.json()["error"]["code"] == "not_authenticated", (method, path)
