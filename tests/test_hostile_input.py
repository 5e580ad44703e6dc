"""The class of issue 15's "no 500 for any input", in one place: each hostile
input named in the issue, sent through the API as a client would, answers
a status below 500 in the API's error shape. Each family has its own
detailed tests beside its code (formula types, runner, data load, API error
pages, WebSocket frames); this list is the outside view."""

import pytest

from apps.calculations.tests.typed_fixtures import MONTH, every_type_define
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

FORMULAS = [
    "SUM(s)", "AVG(ts)", "COUNT(i) WHERE i LIKE 'x%'", "SUM(i + ts)", "COUNT(i) WHERE ts BETWEEN 1 AND 'x'",
    "SUM(i) * 1e400", "SUM(i) * 1" + "0" * 400, "SUM(d) * 1e300 * 1e300", "SUM('3')", "SUM(NULL)",
]  # fmt: skip
CHARSETS = ["rot13", "base64", "zlib", "hex", "bz2", "uu", "quopri", "undefined", "punycode", "no-such"]
DEEP = b"[" * 100_000 + b"]" * 100_000


def _requests():
    """(id, callable(api) -> response)."""
    for formula in FORMULAS:
        body = {"code": "hostile", "name": "Hostile", "formula": formula, "entity": "thing"}
        yield (
            f"define {formula[:40]}",
            lambda api, body=body: api.post("/api/v1/ontology/metrics/", body, format="json"),
        )
        query = {"entity": "thing", "measures": {"m": formula}, "range": {"start": MONTH["start"], "end": MONTH["end"]}}
        yield f"query {formula[:40]}", lambda api, query=query: api.post("/api/v1/query/", query, format="json")
    for charset in CHARSETS:
        yield f"csv charset={charset}", lambda api, charset=charset: api.generic(
            "POST", "/api/v1/data/thing/rows/", b"ts,s\n2026-03-02T00:00:00Z,a\n",
            content_type=f"text/csv; charset={charset}",
        )  # fmt: skip
    yield (
        "csv json cell nested 100,000 deep",
        lambda api: api.generic(
            "POST", "/api/v1/data/thing/rows/", b'ts,j\n2026-03-02T00:00:00Z,"' + DEEP + b'"\n', content_type="text/csv"
        ),
    )
    yield (
        "json body nested 100,000 deep",
        lambda api: api.generic("POST", "/api/v1/data/thing/rows/", DEEP, content_type="application/json"),
    )
    yield (
        "json query nested 100,000 deep",
        lambda api: api.generic("POST", "/api/v1/query/", DEEP, content_type="application/json"),
    )
    yield "unknown path", lambda api: api.get("/api/v1/no/such/path")
    yield "form over DATA_UPLOAD_MAX_MEMORY_SIZE", lambda api: api.generic(
        "POST", "/api/v1/ontology/entities/", b"code=" + b"x" * 3_000_000,
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip


REQUESTS = list(_requests())


@pytest.fixture
def api(api_client):
    membership = MembershipFactory(is_default=True, role="analyst")
    api_client.force_authenticate(membership.user)
    api_client.raise_request_exception = False
    every_type_define(api_client)
    return api_client


@pytest.mark.parametrize("send", [r[1] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_each_hostile_input_is_answered_below_500_in_the_error_shape(api, send):
    response = send(api)
    if response.status_code in (200, 201) and "hostile" in response.content.decode(errors="replace")[:200]:
        response = api.get("/api/v1/metrics/hostile", MONTH)  # accepted at definition: it must compute or 4xx
        if response.status_code == 200:
            return
    if response.status_code in (200, 201) and b'"rejected"' in response.content:
        assert response.json()["rejected"], response.content[:300]  # a refused cell is a rejected row
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
