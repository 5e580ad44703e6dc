import pytest

from apps.ontology.tests.conftest import POLICY_SNAPSHOT

pytestmark = pytest.mark.django_db
BASE = "/api/v1/ontology/"


@pytest.fixture
def ontology(analyst_client):
    analyst_client.post(BASE + "entities/", POLICY_SNAPSHOT, format="json")
    metric = {"code": "active", "name": "Active", "formula": "COUNT(policy_id)", "entity": "policy_snapshot"}
    analyst_client.post(BASE + "metrics/", metric, format="json")
    return analyst_client


def test_value_chain_actor_strategy_use_case_and_data_source_link_by_code(ontology):
    chain = ontology.post(
        BASE + "value-chains/",
        {"code": "health_insurance", "name": "Health insurance", "industry": "Insurance",
         "stages": ["Underwrite", "Service", "Renew"], "entities": ["policy_snapshot"], "metrics": ["active"]},
        format="json",
    )  # fmt: skip
    assert chain.status_code == 201, chain.content
    assert chain.json()["entities"] == ["policy_snapshot"] and chain.json()["stages"][0] == "Underwrite"

    actor = ontology.post(
        BASE + "actors/",
        {"code": "retention_manager", "name": "Retention manager", "kind": "role", "value_chain": "health_insurance",
         "responsibilities": ["Reduce churn"]},
        format="json",
    )  # fmt: skip
    assert actor.status_code == 201 and actor.json()["value_chain"] == "health_insurance"

    strategy = ontology.post(
        BASE + "strategies/",
        {"code": "retain", "name": "Retain members", "objectives": ["Retention above 90%"],
         "value_chain": "health_insurance"},
        format="json",
    )  # fmt: skip
    assert strategy.status_code == 201

    use_case = ontology.post(
        BASE + "use-cases/",
        {"code": "retention_analysis", "name": "Retention analysis", "strategy": "retain",
         "entities": ["policy_snapshot"], "metrics": ["active"]},
        format="json",
    )  # fmt: skip
    assert use_case.status_code == 201
    assert (use_case.json()["strategy"], use_case.json()["metrics"]) == ("retain", ["active"])

    source = ontology.post(
        BASE + "data-sources/",
        {"code": "policy_admin", "name": "Policy admin system", "kind": "sql", "schedule": "0 2 * * *",
         "settings": {"host": "pas.internal", "table": "policy_status"}, "entities": ["policy_snapshot"]},
        format="json",
    )  # fmt: skip
    assert source.status_code == 201, source.content
    assert ontology.get(BASE + "data-sources/policy_admin").json()["schedule"] == "0 2 * * *"

    patched = ontology.patch(BASE + "use-cases/retention_analysis/", {"metrics": []}, format="json")
    assert patched.status_code == 200 and patched.json()["metrics"] == []
    history = ontology.get(BASE + "use-cases/retention_analysis/history/").json()
    reverted = ontology.post(BASE + f"use-cases/retention_analysis/history/{history[-1]['id']}/revert/")
    assert reverted.json()["metrics"] == ["active"]


@pytest.mark.parametrize(
    ("path", "payload", "code", "fragment"),
    [
        ("use-cases/", {"code": "u", "name": "U", "entities": ["claims"]}, "unknown_reference", "'claims'"),
        ("use-cases/", {"code": "u", "name": "U", "strategy": "nope"}, "unknown_reference", "'nope'"),
        ("actors/", {"code": "a", "name": "A", "kind": "robot"}, "invalid_kind", "Unknown kind 'robot'"),
        ("data-sources/", {"code": "d", "name": "D", "kind": "sql", "schedule": "every day"}, "invalid_schedule",
         "not a valid cron"),
        ("data-sources/", {"code": "d", "name": "D", "kind": "sql", "settings": {"password": "x"}},
         "credentials_not_allowed", "password"),
        ("value-chains/", {"code": "Bad Code", "name": "V"}, "invalid_code", "lower snake case"),
        ("value-chains/", {"code": "v", "name": "V", "stages": [""]}, "invalid", "stages"),
    ],
)  # fmt: skip
def test_bad_descriptive_definitions_are_400(ontology, path, payload, code, fragment):
    response = ontology.post(BASE + path, payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert fragment in response.json()["error"]["message"]
