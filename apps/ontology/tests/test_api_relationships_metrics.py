import pytest

from apps.ontology.models import MetricDefinition, RelationshipDefinition
from apps.ontology.tests.conftest import MEMBER, POLICY_SNAPSHOT
from apps.warehouse.selectors import index_names
from apps.warehouse.services import index_name

pytestmark = pytest.mark.django_db
REL = "/api/v1/ontology/relationships/"
MET = "/api/v1/ontology/metrics/"
RELATIONSHIP = {
    "code": "snapshot_member",
    "source_entity": "policy_snapshot",
    "target_entity": "member",
    "kind": "many_to_one",
    "source_attribute": "member_id",
    "target_attribute": "member_id",
}


@pytest.fixture
def ontology(analyst_client):
    for payload in (POLICY_SNAPSHOT, MEMBER):
        assert analyst_client.post("/api/v1/ontology/entities/", payload, format="json").status_code == 201
    return analyst_client


def test_relationship_is_created_with_indexes_on_both_keys(ontology, analyst):
    response = ontology.post(REL, RELATIONSHIP, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["source_entity"] == "policy_snapshot"
    source, target = f"c{analyst.client_id}_policy_snapshot", f"c{analyst.client_id}_member"
    assert index_name(source, ["member_id"]) in index_names(table=source)
    assert index_name(target, ["member_id"]) in index_names(table=target)


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"source_entity": "claim"}, "unknown_entity", "Unknown source entity 'claim'"),
        ({"target_entity": "nope"}, "unknown_entity", "Unknown target entity 'nope'"),
        ({"source_attribute": "member_no"}, "unknown_attribute", "'policy_snapshot' has no attribute 'member_no'"),
        ({"target_attribute": "region_id"}, "unknown_attribute", "'member' has no attribute 'region_id'"),
        ({"target_attribute": "birth_year"}, "type_mismatch", "keys must have the same type"),
        ({"kind": "one_to_one"}, "invalid_kind", "Unknown relationship kind 'one_to_one'"),
    ],
)
def test_relationship_naming_unknown_things_is_400_naming_them(ontology, change, code, fragment):
    response = ontology.post(REL, {**RELATIONSHIP, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert fragment in response.json()["error"]["message"]
    assert not RelationshipDefinition.objects.exists()


def _metric(code, formula, entity="policy_snapshot", **extra):
    return {"code": code, "name": code.replace("_", " ").title(), "formula": formula, "entity": entity, **extra}


def test_metrics_with_filters_and_derived_metrics_record_their_dependencies(ontology):
    for payload in (
        _metric("start_count", "COUNT_DISTINCT(policy_id) WHERE status = 'Active'"),
        _metric("end_count", "COUNT_DISTINCT(policy_id) WHERE status = 'Active'"),
        _metric("new_count", "COUNT_DISTINCT(policy_id) WHERE start_date > snapshot_date"),
    ):
        assert ontology.post(MET, payload, format="json").status_code == 201
    derived = ontology.post(
        MET, _metric("retention_rate", "(EndCount - NewCount) / StartCount", entity=None, unit="ratio"), format="json"
    )
    assert derived.status_code == 201, derived.content
    body = derived.json()
    assert body["depends_on"] == {"metrics": ["end_count", "new_count", "start_count"], "attributes": []}
    assert body["entity"] is None and body["mode"] == "exact"
    start = ontology.get(MET + "start_count").json()
    assert start["depends_on"]["attributes"] == ["policy_snapshot.policy_id", "policy_snapshot.status"]


@pytest.mark.parametrize(
    ("formula", "code", "fragment"),
    [
        ("SUM(premium)", "unknown_reference", "Unknown name 'premium'"),
        ("VLOOKUP(policy_id, lob)", "invalid_formula", "Function VLOOKUP is not in the formula library"),
        ("pg_sleep(10)", "invalid_formula", "Function pg_sleep is not in the formula library"),
        ("COUNT(policy_id); DROP TABLE member", "invalid_formula", "; is not allowed"),
        ("COUNT(policy_id) -- sneaky", "invalid_formula", "Comments are not allowed"),
        ('COUNT("policy_id")', "invalid_formula", '"policy_id" is not allowed'),
        ("(SELECT 1)", "invalid_formula", "SELECT is not allowed"),
        ("Sheet2!A1 + 1", "invalid_formula", "! is not allowed"),
        ("SUM(policy_id", "invalid_formula", "Unbalanced '('"),
        ("", "invalid", "formula"),
    ],
)
def test_bad_formulas_are_rejected_at_definition_naming_the_culprit(ontology, formula, code, fragment):
    response = ontology.post(MET, _metric("bad", formula), format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert fragment in response.json()["error"]["message"]
    assert not MetricDefinition.objects.filter(code="bad").exists()


def test_unknown_entity_and_mode_are_400(ontology):
    assert ontology.post(MET, _metric("m", "COUNT(x)", entity="claims"), format="json").json()["error"]["code"] == (
        "unknown_entity"
    )
    assert ontology.post(MET, _metric("m", "COUNT(policy_id)", mode="fuzzy"), format="json").json()["error"][
        "code"
    ] == ("invalid_mode")


def test_cycles_between_metrics_are_refused(ontology):
    ontology.post(MET, _metric("a", "COUNT(policy_id)"), format="json")
    ontology.post(MET, _metric("b", "a * 2", entity=None), format="json")
    ontology.post(MET, _metric("c", "b + 1", entity=None), format="json")
    response = ontology.put(MET + "a/", _metric("a", "c / 2", entity=None), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "circular_reference"
    assert response.json()["error"]["details"]["cycle"] == ["a", "c", "b", "a"]
    selfish = ontology.post(MET, _metric("d", "d + 1", entity=None), format="json")
    assert selfish.json()["error"]["code"] == "circular_reference"


def test_metric_in_use_cannot_be_deleted_and_attribute_in_use_cannot_be_removed(ontology):
    ontology.post(MET, _metric("active", "COUNT_DISTINCT(policy_id) WHERE status = 'Active'"), format="json")
    ontology.post(MET, _metric("double_active", "active * 2", entity=None), format="json")
    refused = ontology.delete(MET + "active/")
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["dependants"] == ["metric double_active"]

    without_status = {
        **POLICY_SNAPSHOT,
        "attributes": [a for a in POLICY_SNAPSHOT["attributes"] if a["code"] != "status"],
    }
    response = ontology.put("/api/v1/ontology/entities/policy_snapshot/", without_status, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"attribute": "status", "dependants": ["metric active"]}


def test_metric_history_and_revert(ontology):
    ontology.post(MET, _metric("active", "COUNT(policy_id)"), format="json")
    ontology.patch(MET + "active/", {"formula": "COUNT_DISTINCT(policy_id)"}, format="json")
    history = ontology.get(MET + "active/history/").json()
    assert history[0]["changes"]["formula"] == {"from": "COUNT(policy_id)", "to": "COUNT_DISTINCT(policy_id)"}
    reverted = ontology.post(MET + f"active/history/{history[1]['id']}/revert/")
    assert reverted.json()["formula"] == "COUNT(policy_id)"
