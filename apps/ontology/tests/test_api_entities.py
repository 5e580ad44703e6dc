import copy

import pytest
from django.db import connection
from psycopg import sql
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory
from apps.ontology.models import EntityDefinition
from apps.ontology.tests.conftest import MEMBER, POLICY_SNAPSHOT
from apps.warehouse.selectors import hypertable_get, table_columns, table_exists

pytestmark = pytest.mark.django_db
URL = "/api/v1/ontology/entities/"


def _insert_row(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("INSERT INTO {} (snapshot_date, policy_id) VALUES ('2026-01-01', 'p1')").format(
                sql.Identifier("analytics_data", table)
            )
        )


def _create(client, payload=POLICY_SNAPSHOT):
    response = client.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_time_series_entity_creates_its_hypertable(analyst_client, analyst):
    body = _create(analyst_client)
    table = f"c{analyst.client_id}_policy_snapshot"
    assert body["table"] == f"analytics_data.{table}"
    assert body["time_attribute"] == "snapshot_date"
    assert [a["code"] for a in body["attributes"]][:3] == ["snapshot_date", "policy_id", "status"]
    assert body["attributes"][2]["enum_values"] == ["Active", "Terminated"]
    assert hypertable_get(table=table).time_column == "snapshot_date"
    columns = {c.name: c for c in table_columns(table=table)}
    assert columns["policy_id"].data_type == "string" and not columns["policy_id"].nullable
    assert columns["status"].nullable


def test_reference_entity_is_a_plain_table_and_lists_paginate(analyst_client, analyst):
    _create(analyst_client, MEMBER)
    assert hypertable_get(table=f"c{analyst.client_id}_member") is None
    assert table_exists(table=f"c{analyst.client_id}_member")
    listing = analyst_client.get(URL).json()
    assert listing["count"] == 1 and listing["results"][0]["code"] == "member"
    assert analyst_client.get(URL + "member").json()["kind"] == "reference"  # no trailing slash


def _with(**changes):
    payload = copy.deepcopy(POLICY_SNAPSHOT)
    payload.update(changes)
    return payload


def _attr(code, data_type="string", **extra):
    return {"code": code, "data_type": data_type, **extra}


BASE_ATTRS = POLICY_SNAPSHOT["attributes"]


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        (_with(attributes=[*BASE_ATTRS, _attr("score", "float")]), "invalid_data_type", "unknown data type 'float'"),
        (_with(attributes=[*BASE_ATTRS, _attr("status")]), "duplicate_code", "'status' appears twice"),
        (_with(code="select"), "reserved_code", "'select' is reserved"),
        (_with(attributes=[*BASE_ATTRS, _attr("user")]), "reserved_code", "'user' is reserved"),
        (_with(code="x" * 49), "invalid_code", "the limit is 48"),
        (_with(code='p"; DROP TABLE x; --'), "invalid_code", "must be lower snake case"),
        (_with(attributes=[*BASE_ATTRS, _attr("a; drop")]), "invalid_code", "must be lower snake case"),
        (_with(time_attribute=""), "time_attribute_required", "needs a time_attribute"),
        (_with(time_attribute="lob"), "invalid_time_attribute", "must be a date or timestamp"),
        (_with(time_attribute="nope"), "invalid_time_attribute", "is not one of the entity's attributes"),
        (_with(kind="graph"), "invalid_kind", "Unknown entity kind 'graph'"),
        (_with(attributes=[]), "invalid_attributes", "at least one attribute"),
        (_with(attributes=[*BASE_ATTRS, _attr("n", "integer", enum_values=["1"])]), "invalid_enum", "only for string"),
    ],
)
def test_bad_definitions_are_400_naming_the_problem_and_create_nothing(
    analyst_client, analyst, payload, code, fragment
):
    response = analyst_client.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]
    assert not EntityDefinition.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics_data'")
        assert cursor.fetchone() == (0,)


def test_missing_fields_are_400_with_field_details(analyst_client):
    response = analyst_client.post(URL, {"code": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"name", "kind", "attributes"}


def test_duplicate_code_is_409(analyst_client):
    _create(analyst_client)
    response = analyst_client.post(URL, POLICY_SNAPSHOT, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_code"


def test_update_adds_columns_widens_types_and_refuses_narrowing(analyst_client, analyst):
    _create(analyst_client)
    table = f"c{analyst.client_id}_policy_snapshot"
    _insert_row(table)

    widened = _with(attributes=[*BASE_ATTRS, _attr("premium", "integer"), _attr("channel")])
    assert analyst_client.put(URL + "policy_snapshot/", widened, format="json").status_code == 200
    widened["attributes"][-2]["data_type"] = "decimal"
    response = analyst_client.put(URL + "policy_snapshot/", widened, format="json")
    assert response.status_code == 200, response.content
    columns = {c.name: c.data_type for c in table_columns(table=table)}
    assert columns["premium"] == "decimal" and columns["channel"] == "string"

    narrowed = copy.deepcopy(widened)
    narrowed["attributes"][-2]["data_type"] = "integer"
    response = analyst_client.put(URL + "policy_snapshot/", narrowed, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsafe_type_change"
    assert {c.name: c.data_type for c in table_columns(table=table)}["premium"] == "decimal"

    renamed_kind = _with(kind="reference", time_attribute="")
    assert analyst_client.put(URL + "policy_snapshot/", renamed_kind, format="json").json()["error"]["code"] == (
        "immutable_field"
    )


def test_patch_changes_only_what_it_names(analyst_client):
    _create(analyst_client)
    response = analyst_client.patch(URL + "policy_snapshot/", {"name": "Policy snapshots"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Policy snapshots"
    assert len(response.json()["attributes"]) == len(BASE_ATTRS)


def test_setting_not_null_on_a_column_with_nulls_is_409_and_changes_nothing(analyst_client, analyst):
    _create(analyst_client)
    table = f"c{analyst.client_id}_policy_snapshot"
    _insert_row(table)
    payload = copy.deepcopy(POLICY_SNAPSHOT)
    payload["attributes"][4]["nullable"] = False  # lob, which is NULL in the row above
    response = analyst_client.put(URL + "policy_snapshot/", payload, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "schema_conflict"
    entity = EntityDefinition.objects.get(code="policy_snapshot")
    assert entity.attributes.get(code="lob").nullable is True


def test_delete_refuses_dependants_and_data_then_drops_the_table(analyst_client, analyst):
    _create(analyst_client)
    _create(analyst_client, MEMBER)
    relationship = {
        "code": "snapshot_member",
        "source_entity": "policy_snapshot",
        "target_entity": "member",
        "kind": "many_to_one",
        "source_attribute": "member_id",
        "target_attribute": "member_id",
    }
    assert analyst_client.post("/api/v1/ontology/relationships/", relationship, format="json").status_code == 201
    metric = {"code": "active", "name": "Active", "formula": "COUNT(policy_id)", "entity": "policy_snapshot"}
    assert analyst_client.post("/api/v1/ontology/metrics/", metric, format="json").status_code == 201

    refused = analyst_client.delete(URL + "policy_snapshot/")
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["dependants"] == ["relationship snapshot_member", "metric active"]

    analyst_client.delete("/api/v1/ontology/metrics/active/")
    analyst_client.delete("/api/v1/ontology/relationships/snapshot_member/")
    table = f"c{analyst.client_id}_policy_snapshot"
    _insert_row(table)
    has_data = analyst_client.delete(URL + "policy_snapshot/")
    assert has_data.status_code == 409 and has_data.json()["error"]["details"]["rows"] == 1
    # Dropping the data is for the client's administrators, not analysts.
    for flag in ("true", "1"):
        refused = analyst_client.delete(URL + f"policy_snapshot/?drop_data={flag}")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        assert "administrators" in refused.json()["error"]["message"]
    assert table_exists(table=table)
    admin_client = APIClient()
    admin_client.force_authenticate(MembershipFactory(client=analyst.client, role="admin", is_default=True).user)
    assert admin_client.delete(URL + "policy_snapshot/?drop_data=true").status_code == 204
    assert not table_exists(table=table)
    assert analyst_client.get(URL + "policy_snapshot/").status_code == 404


def test_tenants_are_isolated_and_viewers_cannot_write(analyst_client, api_client):
    _create(analyst_client)
    other = MembershipFactory(role="analyst", is_default=True)
    api_client.force_authenticate(other.user)
    assert api_client.get(URL + "policy_snapshot/").status_code == 404
    assert api_client.get(URL).json()["count"] == 0
    # The same code in another client is its own entity with its own table.
    assert api_client.post(URL, POLICY_SNAPSHOT, format="json").status_code == 201
    assert table_exists(table=f"c{other.client_id}_policy_snapshot")

    viewer = MembershipFactory(role="viewer", is_default=True)
    api_client.force_authenticate(viewer.user)
    assert api_client.get(URL).status_code == 200
    refused = api_client.post(URL, MEMBER, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"


def test_history_shows_who_changed_what_and_revert_restores_it(analyst_client, analyst):
    _create(analyst_client)
    changed = _with(attributes=[*BASE_ATTRS, _attr("channel")], name="Snapshots")
    analyst_client.put(URL + "policy_snapshot/", changed, format="json")

    history = analyst_client.get(URL + "policy_snapshot/history/").json()
    assert [v["comment"] for v in history] == ["Changed entity policy_snapshot", "Created entity policy_snapshot"]
    assert history[0]["user"] == analyst.user.username
    assert history[0]["changes"]["name"] == {"from": "Policy snapshot", "to": "Snapshots"}
    assert history[0]["changes"]["attributes"]["added"] == ["channel"]

    first = history[1]["id"]
    reverted = analyst_client.post(URL + f"policy_snapshot/history/{first}/revert/")
    assert reverted.status_code == 200, reverted.content
    assert reverted.json()["name"] == "Policy snapshot"
    assert "channel" not in [a["code"] for a in reverted.json()["attributes"]]
    assert len(analyst_client.get(URL + "policy_snapshot/history/").json()) == 3
    assert analyst_client.post(URL + "policy_snapshot/history/999999/revert/").status_code == 404
