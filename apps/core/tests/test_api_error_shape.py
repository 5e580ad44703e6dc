"""Every error under /api/ has the error shape (API.md), including those that
never reach a DRF view or escape one: an unknown path, a body over Django's
in-memory limit, an unexpected exception (500, correlation id, no trace).
Pages outside /api/ keep Django's HTML error pages."""

import pytest

from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(api_client):
    membership = MembershipFactory(is_default=True, role="analyst")
    api_client.force_authenticate(membership.user)
    api_client.raise_request_exception = False
    return api_client


HOSTILE = [
    ("unknown path", "get", "/api/v1/no-such-thing/", {}, 404, "not_found"),
    ("unknown version", "get", "/api/v9/metrics/x", {}, 404, "not_found"),
    ("unknown deep path", "post", "/api/v1/ontology/entities/x/y/z/", {}, 404, None),
    ("method not allowed", "delete", "/api/v1/query/", {}, 405, None),
    ("unsupported media type", "post", "/api/v1/query/", {"data": b"x", "content_type": "image/png"}, 415, None),
    ("malformed json", "post", "/api/v1/query/", {"data": b"{", "content_type": "application/json"}, 400, None),
    (
        "deep json",
        "post",
        "/api/v1/query/",
        {"data": b"[" * 100_000 + b"]" * 100_000, "content_type": "application/json"},
        400,
        None,
    ),
    (
        "json over DATA_UPLOAD_MAX_MEMORY_SIZE",
        "post",
        "/api/v1/ontology/entities/",
        {"data": b'{"code": "' + b"x" * 3_000_000 + b'"}', "content_type": "application/json"},
        413,
        "payload_too_large",
    ),
    (
        "too many form fields",
        "post",
        "/api/v1/ontology/entities/",
        {"data": b"&".join(b"f%d=1" % n for n in range(1500)), "content_type": "application/x-www-form-urlencoded"},
        400,
        None,
    ),
    (
        "form over DATA_UPLOAD_MAX_MEMORY_SIZE",
        "post",
        "/api/v1/ontology/entities/",
        {"data": b"code=" + b"x" * 3_000_000, "content_type": "application/x-www-form-urlencoded"},
        413,
        "payload_too_large",
    ),
]


@pytest.mark.parametrize(("name", "method", "path", "extra", "status", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_every_api_error_has_the_shape(api, name, method, path, extra, status, code):
    response = getattr(api, method)(path, **extra)
    assert_error(response, status, code)


def test_an_unexpected_exception_is_a_shaped_500_with_a_correlation_id_and_no_trace(api, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr("apps.calculations.api.views.adhoc_query_run", broken)  # by name: core imports no app above
    query = {"entity": "x", "measures": {"n": "COUNT(*)"}, "range": {"start": "2026-01-01", "end": "2026-02-01"}}
    response = api.post("/api/v1/query/", query, format="json")
    error = assert_error(response, 500, "internal_error")
    assert error["details"]["correlation_id"] and error["details"]["correlation_id"] in error["message"]
    assert "secret detail" not in response.content.decode() and "Traceback" not in response.content.decode()


def test_pages_outside_the_api_keep_html_error_pages(client):
    client.raise_request_exception = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
