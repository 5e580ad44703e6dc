import re

import pytest

from apps.core.tests.factories import MembershipFactory
from apps.ontology.selectors.uml import plantuml_text
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.ontology.services.metrics import MetricInput, metric_create
from apps.ontology.services.relationships import RelationshipInput, relationship_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/ontology/graph/uml"

POLICY = EntityInput(
    code="policy",
    name="Policy",
    kind="reference",
    attributes=[
        AttributeInput("policy_id", "string", nullable=False),
        AttributeInput("lob", "string", enum_values=("Health", "Life")),
    ],
)
MEMBER = EntityInput(
    code="member",
    name="Member",
    kind="reference",
    attributes=[AttributeInput("member_id", "string", nullable=False), AttributeInput("policy_id", "string")],
)
POLICY_SNAPSHOT = EntityInput(
    code="policy_snapshot",
    name="Policy snapshot",
    kind="time_series",
    time_attribute="snapshot_date",
    attributes=[
        AttributeInput("snapshot_date", "date", nullable=False),
        AttributeInput("policy_id", "string", nullable=False),
        AttributeInput("premium", "decimal"),
    ],
)


def _build(client_id: int) -> None:
    for data in (POLICY, MEMBER, POLICY_SNAPSHOT):
        entity_create(client_id=client_id, data=data)
    for rel in (
        RelationshipInput("member_policy", "member", "policy", "many_to_one", "policy_id", "policy_id"),
        RelationshipInput("policy_history", "policy", "policy_snapshot", "composition", "policy_id", "policy_id"),
    ):
        relationship_create(client_id=client_id, data=rel)
    metric_create(
        client_id=client_id,
        data=MetricInput("active_policies", "Active policies", "COUNT_DISTINCT(policy_id)", entity="policy_snapshot"),
    )
    metric_create(
        client_id=client_id,
        data=MetricInput(
            "average_premium", "Average premium", "SUM(premium) / active_policies", entity="policy_snapshot"
        ),
    )


@pytest.fixture
def member(db):
    membership = MembershipFactory(role="viewer", is_default=True)
    _build(membership.client_id)
    return membership


@pytest.fixture
def reader(api_client, member):
    api_client.force_authenticate(member.user)
    return api_client


def test_plantuml_diagram_of_the_ontology(reader):
    response = reader.get(URL)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    lines = text.splitlines()
    assert lines[0] == "@startuml" and lines[-1] == "@enduml"

    assert 'class "Policy" as E_policy <<reference>> {' in lines
    assert 'class "Member" as E_member <<reference>> {' in lines
    assert 'class "Policy snapshot" as E_policy_snapshot <<time series>> {' in lines
    assert "  {field} snapshot_date : date [1] <<time>>" in lines
    assert "  {field} premium : decimal [0..1]" in lines
    assert "  {field} lob : string [0..1] in (Health, Life)" in lines

    assert 'E_member "*" --> "1" E_policy : member_policy (policy_id = policy_id)' in lines
    assert 'E_policy "1" *-- "*" E_policy_snapshot : policy_history (policy_id = policy_id)' in lines

    assert 'package "Metrics" {' in lines
    assert '  class "Active policies" as M_active_policies <<metric>> {' in lines
    assert "    {field} formula = COUNT_DISTINCT(policy_id)" in lines
    assert "M_active_policies ..> E_policy_snapshot : measures" in lines
    assert "M_average_premium ..> M_active_policies : uses" in lines


def test_trailing_slash_is_optional(reader):
    assert reader.get(URL + "/").content == reader.get(URL).content


def test_json_graph_has_nodes_and_edges(reader):
    response = reader.get(URL, {"format": "json"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    graph = response.json()

    nodes = {node["id"]: node for node in graph["nodes"]}
    assert set(nodes) == {
        "entity:member",
        "entity:policy",
        "entity:policy_snapshot",
        "metric:active_policies",
        "metric:average_premium",
    }
    snapshot = nodes["entity:policy_snapshot"]
    assert snapshot["type"] == "entity" and snapshot["kind"] == "time_series"
    assert snapshot["time_attribute"] == "snapshot_date"
    assert snapshot["attributes"][0] == {
        "code": "snapshot_date",
        "data_type": "date",
        "nullable": False,
        "enum_values": [],
    }
    assert nodes["metric:average_premium"]["type"] == "metric"
    assert nodes["metric:average_premium"]["formula"] == "SUM(premium) / active_policies"

    edges = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
    assert edges == {
        ("entity:member", "entity:policy", "many_to_one"),
        ("entity:policy", "entity:policy_snapshot", "composition"),
        ("metric:active_policies", "entity:policy_snapshot", "measures"),
        ("metric:average_premium", "entity:policy_snapshot", "measures"),
        ("metric:average_premium", "metric:active_policies", "uses"),
    }
    member_policy = next(e for e in graph["edges"] if e.get("code") == "member_policy")
    assert member_policy["multiplicity"] == {"source": "*", "target": "1"}
    assert member_policy["source_attribute"] == "policy_id"


def test_accept_json_also_gets_the_graph(reader):
    response = reader.get(URL, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "nodes" in response.json()


def test_unknown_format_is_400(reader):
    response = reader.get(URL, {"format": "svg"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_format"
    assert "'svg'" in response.json()["error"]["message"]


def test_another_tenants_ontology_never_appears(reader, member, api_client):
    other = MembershipFactory(role="admin", is_default=True)
    entity_create(
        client_id=other.client_id,
        data=EntityInput(
            code="claim", name="Claim", kind="reference", attributes=[AttributeInput("claim_id", "string")]
        ),
    )
    metric_create(client_id=other.client_id, data=MetricInput("claim_count", "Claim count", "COUNT(claim_id)", "claim"))

    text = reader.get(URL).content.decode()
    assert "claim" not in text.lower()
    graph = reader.get(URL, {"format": "json"}).json()
    assert not [n for n in graph["nodes"] if "claim" in n["id"]]
    assert len(graph["nodes"]) == 5

    # ... and the other tenant sees only its own.
    api_client.force_authenticate(other.user)
    theirs = api_client.get(URL, {"format": "json"}).json()
    assert {n["id"] for n in theirs["nodes"]} == {"entity:claim", "metric:claim_count"}
    assert api_client.get(URL, HTTP_X_CLIENT=member.client.code).status_code == 403


def test_anonymous_is_401_with_the_json_error_shape(api_client, member):
    for params in ({}, {"format": "json"}, {"format": "svg"}):
        response = api_client.get(URL, params)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_authenticated"


def test_names_cannot_break_out_of_the_diagram(member, reader):
    entity_create(
        client_id=member.client_id,
        data=EntityInput(
            code="odd",
            name='Odd" as X\n@enduml\n!include /etc/passwd %getenv("SECRET_KEY") <img:http://x/y.png> **b**',
            kind="reference",
            attributes=[AttributeInput("kind_of", "string", enum_values=('a"b', "}", "c'd"))],
        ),
    )
    text = reader.get(URL).content.decode()
    lines = text.splitlines()
    assert lines.count("@enduml") == 1 and lines[-1] == "@enduml"
    odd = next(line for line in lines if line.endswith("as E_odd <<reference>> {"))
    # One quoted name, nothing in it PlantUML would read as syntax, markup or preprocessor input.
    name = odd.removeprefix('class "').removesuffix('" as E_odd <<reference>> {')
    assert not re.search(r'["!%$<>{}\\\']|\*\*', re.sub(r"<U\+[0-9A-F]{4}>", "", name))
    assert "enduml" in name and "getenv" in name  # still shown, as text
    assert not any(line.startswith(("!", "%", "@enduml ")) for line in lines)
    member_line = next(line for line in lines if "{field} kind_of" in line)
    assert "<U+007D>" in member_line and member_line.count("}") == 1


def test_plantuml_text_escapes_and_keeps_plain_text():
    assert plantuml_text("Policy snapshot (v2), 50% / yr") == "Policy snapshot (v2), 50<U+0025> / yr"
    assert plantuml_text('a "b"\nc') == "a <U+0022>b<U+0022> c"
    assert plantuml_text("x ** y // z") == "x <U+002A>* y <U+002F>/ z"
