"""The GraphQL adapter against a real graphql-core schema served over HTTP
(http_standins.GraphQLStandin): Relay pages read once each, an `errors`
answer named, introspection typing and its sampling fallback, queries
checked when saved."""

import uuid
from collections.abc import Iterator

import pytest

from apps.connectors.adapters import adapter_for
from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.adapters.graphql import GraphQLAdapter
from apps.connectors.tests import http_standins as s
from apps.connectors.types import ExtractRequest, SourceError
from apps.core.errors import AppError

POLICIES = """
query Policies($first: Int, $after: String) {
  policies(first: $first, after: $after) {
    edges { node { id premium active startDate updatedAt code customer { id address { city } } tags } }
    pageInfo { hasNextPage endCursor }
  }
}"""
BROKEN = "query { broken { edges { node { id } } pageInfo { hasNextPage endCursor } } }"


@pytest.fixture
def gql() -> Iterator[s.GraphQLStandin]:
    with s.GraphQLStandin() as standin:
        yield standin


def _spec(gql, queries=None, **extra) -> ConnectionSpec:
    queries = queries or [{"name": "policies", "query": POLICIES, "connection_path": "policies"}]
    settings = {"endpoint": gql.endpoint, "queries": queries, "page_size": 5, **extra}
    return ConnectionSpec(kind="graphql", settings=settings, key=f"t:{uuid.uuid4().hex}")


def test_relay_pages_are_read_once_each_with_first_and_after(gql):
    GraphQLAdapter.validate_settings(_spec(gql).settings)
    extraction = adapter_for(_spec(gql)).extract(ExtractRequest(source_object="policies", batch_size=4))
    batches = list(extraction.batches)
    extraction.close()
    assert [row["id"] for batch in batches for row in batch] == list(range(1, 24))
    assert batches[0][0]["customer.address.city"] == "Bergen" and batches[0][0]["tags"] == ["x"]
    sent = [q["variables"] for q in gql.queries]
    assert sent[0] == {"first": 5} and sent[1] == {"first": 5, "after": "5"} and len(sent) == 5


def test_an_errors_answer_names_the_first_message_and_its_path(gql):
    spec = _spec(gql, [{"name": "b", "query": BROKEN, "connection_path": "broken"}])
    with pytest.raises(SourceError) as caught:
        list(adapter_for(spec).extract(ExtractRequest(source_object="b")).batches)
    assert "the policy store is offline" in caught.value.message and "at broken" in caught.value.message
    outcome = adapter_for(spec).test()
    assert (outcome.ok, outcome.stage) == (False, "query") and "offline" in outcome.message


def test_introspection_types_the_selected_node_fields(gql):
    (query,) = adapter_for(_spec(gql)).discover()
    columns = {c.name: c for c in query.columns}
    assert {n: c.type for n, c in columns.items()} == {
        "id": "integer", "premium": "decimal", "active": "boolean", "startDate": "date", "updatedAt": "timestamp",
        "code": "string", "customer.id": "string", "customer.address.city": "string", "tags": "json",
    }  # fmt: skip
    assert not columns["id"].nullable and columns["premium"].nullable and columns["customer.id"].nullable
    assert any("__schema" in q["query"] for q in gql.queries)


def test_preview_types_its_columns_as_discovery_does(gql):
    adapter = adapter_for(_spec(gql))
    (query,) = adapter.discover()
    preview = adapter.preview(source_object="policies", limit=2)
    assert {c.name: c.type for c in preview.columns} == {c.name: c.type for c in query.columns}
    assert len(preview.rows) == 2
    records = list(gql.records)
    gql.records.clear()  # no record to infer from: the schema still types every column
    empty = adapter.preview(source_object="policies", limit=2)
    assert empty.rows == [] and {c.name: c.type for c in empty.columns} == {c.name: c.type for c in query.columns}
    gql.records.extend(records)
    gql.introspection = False  # no schema: inferred from the records, as discovery infers them
    inferred = {c.name: c.type for c in adapter.preview(source_object="policies", limit=2).columns}
    assert inferred["id"] == "integer" and inferred["startDate"] == "date"


def test_without_introspection_discovery_samples_records(gql):
    gql.introspection = False
    (query,) = adapter_for(_spec(gql)).discover()
    types = {c.name: c.type for c in query.columns}
    assert types["id"] == "integer" and types["startDate"] == "date" and types["customer.address.city"] == "string"
    assert any("policies" in q["query"] for q in gql.queries)


def test_bearer_auth_and_a_refused_token(gql):
    gql.token = s.BEARER
    outcome = adapter_for(_spec(gql, auth={"type": "bearer"})).test()
    assert (outcome.ok, outcome.stage) == (False, "auth")
    spec = _spec(gql, auth={"type": "bearer"})
    spec = ConnectionSpec(kind=spec.kind, settings=spec.settings, credentials={"token": s.BEARER}, key=spec.key)
    preview = adapter_for(spec).preview(source_object="policies", limit=3)
    assert [row["id"] for row in preview.rows] == [1, 2, 3]


@pytest.mark.parametrize(
    ("queries", "named"),
    [
        ([{"name": "q", "query": "query { policies { ", "connection_path": "policies"}], "does not parse"),
        ([{"name": "q", "query": "mutation { x }", "connection_path": "x"}], "mutation"),
        ([{"name": "q", "query": "{ a }"}], "connection_path"),
    ],
)
def test_queries_are_checked_when_saved(queries, named):
    with pytest.raises(AppError) as caught:
        GraphQLAdapter.validate_settings({"endpoint": "https://api.example/graphql", "queries": queries})
    assert named in caught.value.message and "settings.queries[0]" in caught.value.message


def test_incremental_reads_keep_only_nodes_after_the_watermark(gql):
    extraction = adapter_for(_spec(gql)).extract(
        ExtractRequest(source_object="policies", watermark_column="updatedAt", watermark_after="2026-03-01T10:00:20Z")
    )
    ids = [row["id"] for batch in extraction.batches for row in batch]
    extraction.close()
    assert ids == [21, 22, 23]


def test_an_unknown_query_and_a_missing_connection_path_are_named(gql):
    with pytest.raises(SourceError, match="no query named 'nope'"):
        adapter_for(_spec(gql)).extract(ExtractRequest(source_object="nope"))
    spec = _spec(gql, [{"name": "q", "query": POLICIES, "connection_path": "contracts"}])
    outcome = adapter_for(spec).test()
    assert (outcome.ok, outcome.stage) == (False, "query") and "'contracts'" in outcome.message
