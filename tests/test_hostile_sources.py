"""The sources API from outside, as an attacker or a careless user would
drive it: every hostile body, path or parameter answers below 500 in the
API's error shape, names what is wrong, and echoes no credential."""

import pytest
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cr3t-never-echoed"
SQL = {"kind": "postgresql", "settings": {"host": "127.0.0.1", "port": 1, "database": "x"},
       "credentials": {"username": "u", "password": SECRET}}  # fmt: skip
DEEP = "[" * 50_000 + "]" * 50_000

CONNECTIONS = [
    {},
    {"code": "Bad Code", **SQL},
    {"code": "x" * 500, **SQL},
    {"code": "ok", "kind": "nosql", "settings": {}},
    {"code": "ok", "kind": ["postgresql"], "settings": {}},
    {"code": "ok", "kind": "postgresql", "settings": "host=evil"},
    {"code": "ok", "kind": "postgresql", "settings": {"host": "169.254.169.254", "port": 5432, "database": "x"}},
    {"code": "ok", "kind": "postgresql", "settings": {"host": "h", "port": 99999999999999999999, "database": "x"}},
    {"code": "ok", "kind": "postgresql", "settings": {"host": "h\r\nX: y", "port": 5432, "database": "x"}},
    {"code": "ok", "kind": "postgresql", "settings": {"host": "h", "database": "x", "sslmode": "yolo"}},
    {"code": "ok", "kind": "postgresql", "settings": {"host": "h", "database": "x"}, "credentials": "pw"},
    {"code": "ok", "kind": "postgresql", "settings": {"host": "h", "database": "x"}, "credentials": {"password": 1}},
    {"code": "ok", "kind": "rest", "settings": {"base_url": "file:///etc/passwd"}},
    {"code": "ok", "kind": "rest", "settings": {"base_url": "http://user:pw@example.com/"}},
    {"code": "ok", "kind": "rest", "settings": {"base_url": "gopher://x/", "endpoints": DEEP}},
    {"code": "ok", "kind": "graphql",
     "settings": {"endpoint": "http://e.example/", "queries": [{"name": "q", "query": "{{{"}]}},
    {"code": "ok", "kind": "file", "settings": {"location": "../../etc"}},
]  # fmt: skip

JOB = {"code": "j", "connection": "src", "object": "t", "entity": "thing"}
JOBS = [
    {},
    {"code": "j", "connection": "nope", "object": "t", "entity": "thing"},
    {"code": "j", "connection": "src", "object": "t", "query": "SELECT 1", "entity": "thing"},
    {"code": "j", "connection": "src", "query": "DELETE FROM t", "entity": "thing"},
    {"code": "j", "connection": "src", "query": "SELECT 1; DROP TABLE t", "entity": "thing"},
    {"code": "j", "connection": "src", "object": "t", "entity": "thing", "schedule": "* * *"},
    {"code": "j", "connection": "src", "object": "t", "entity": "thing", "schedule": "61 25 32 13 8"},
    {"code": "j", "connection": "src", "object": "t", "entity": "thing", "mapping": "x"},
    {**JOB, "mapping": {"fields": {"nope": {"source": "a"}}}},
    {**JOB, "mapping": {"fields": {"s": {"source": 1, "value": 2}}}},
    {"code": "j", "connection": "src", "object": "t", "entity": "thing", "batch_size": -1},
    {"code": "j", "connection": "src", "object": "t", "entity": "thing", "incremental": "x"},
    {**JOB, "draft": "maybe"},
    {**JOB, "draft": True, "mapping": ["x"]},
    {**JOB, "draft": True, "mapping": {"fields": []}},
    {**JOB, "draft": True, "query": "DELETE FROM t", "object": ""},
]  # fmt: skip


@pytest.fixture
def api():
    membership = MembershipFactory(role="admin", is_default=True)
    client = APIClient()
    client.force_authenticate(membership.user)
    assert client.post("/api/v1/sources/connections/", {"code": "src", **SQL}, format="json").status_code == 201
    return client


def _refused(response) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"], body
    assert SECRET not in response.content.decode(errors="replace")
    return body["error"]


@pytest.mark.parametrize("body", CONNECTIONS, ids=range(len(CONNECTIONS)))
def test_hostile_connections_are_refused_with_a_reason(api, body):
    _refused(api.post("/api/v1/sources/connections/", body, format="json"))


@pytest.mark.parametrize("body", JOBS, ids=range(len(JOBS)))
def test_hostile_jobs_are_refused_with_a_reason(api, body):
    _refused(api.post("/api/v1/sources/jobs/", body, format="json"))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sources/connections/src/preview?object=t&limit=1000000000",
        "/api/v1/sources/connections/src/preview?object=t&limit=-1",
        "/api/v1/sources/connections/src/preview?object=t&limit=abc",
        "/api/v1/sources/connections/src/preview?object=%27%3B%20DROP%20TABLE%20x%3B--",
        "/api/v1/sources/connections/src/preview?query=DELETE%20FROM%20x",
        "/api/v1/sources/connections/..%2F..%2Fetc/preview",
        "/api/v1/sources/connections/src/discover",
        "/api/v1/sources/jobs/nope/runs/",
        "/api/v1/sources/jobs/nope/runs/abc/",
    ],
)
def test_hostile_reads_answer_below_500(api, path):
    response = api.get(path)
    assert response.status_code < 500, (response.status_code, response.content[:500])
    assert SECRET not in response.content.decode(errors="replace")


def test_the_test_of_an_unreachable_connection_says_where_it_stopped(api):
    response = api.post("/api/v1/sources/connections/src/test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and body["stage"] == "connect" and SECRET not in body["message"]
