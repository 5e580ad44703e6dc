"""The admin edits the ontology through the same services as the API."""

import pytest

from apps.core.tests.factories import ClientFactory
from apps.ontology.models import EntityDefinition, MetricDefinition
from apps.warehouse.selectors import hypertable_get, table_columns

pytestmark = pytest.mark.django_db
ADD = "/admin/ontology/entitydefinition/add/"


def _attribute_rows(rows, initial=0, ids=()):
    data = {
        "attributes-TOTAL_FORMS": str(len(rows)),
        "attributes-INITIAL_FORMS": str(initial),
        "attributes-MIN_NUM_FORMS": "0",
        "attributes-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in {"position": i, "name": "", "description": "", "enum_values": "[]", **row}.items():
            if key == "nullable" and not value:
                continue  # unchecked checkbox
            data[f"attributes-{i}-{key}"] = value
        if i < len(ids):
            data[f"attributes-{i}-id"] = ids[i]
    return data


SNAPSHOT_ROWS = [
    {"code": "snapshot_date", "data_type": "date", "nullable": ""},
    {"code": "policy_id", "data_type": "string", "nullable": ""},
    {"code": "status", "data_type": "string", "nullable": "on", "enum_values": '["Active", "Terminated"]'},
]


def _entity_form(client, **extra):
    return {
        "client": client.pk,
        "code": "policy_snapshot",
        "name": "Policy snapshot",
        "description": "",
        "kind": "time_series",
        "time_attribute": "snapshot_date",
        **extra,
    }


def test_admin_creates_an_entity_with_its_attributes_and_hypertable(admin_client):
    client = ClientFactory()
    response = admin_client.post(ADD, {**_entity_form(client), **_attribute_rows(SNAPSHOT_ROWS)})
    assert response.status_code == 302, response.content.decode()[:3000]
    entity = EntityDefinition.objects.get(code="policy_snapshot")
    assert [a.code for a in entity.attributes.all()] == ["snapshot_date", "policy_id", "status"]
    assert entity.attributes.get(code="status").enum_values == ["Active", "Terminated"]
    assert hypertable_get(table=entity.table_name).time_column == "snapshot_date"

    listing = admin_client.get("/admin/ontology/entitydefinition/?q=policy_id")
    assert "policy_snapshot" in listing.content.decode()


def test_admin_shows_service_errors_on_the_form_and_writes_nothing(admin_client):
    client = ClientFactory()
    rows = [*SNAPSHOT_ROWS, {"code": "user", "data_type": "string", "nullable": "on"}]
    response = admin_client.post(ADD, {**_entity_form(client), **_attribute_rows(rows)})
    assert response.status_code == 200
    assert "is reserved" in response.content.decode()
    assert not EntityDefinition.objects.exists()

    response = admin_client.post(ADD, {**_entity_form(client, time_attribute=""), **_attribute_rows(SNAPSHOT_ROWS)})
    assert "needs a time_attribute" in response.content.decode()
    assert not EntityDefinition.objects.exists()


def test_admin_metric_form_validates_the_formula(admin_client):
    client = ClientFactory()
    admin_client.post(ADD, {**_entity_form(client), **_attribute_rows(SNAPSHOT_ROWS)})
    entity = EntityDefinition.objects.get()
    base = {"client": client.pk, "code": "active", "name": "Active", "description": "", "entity": entity.pk,
            "unit": "", "domain": "", "mode": "exact"}  # fmt: skip
    bad = admin_client.post("/admin/ontology/metricdefinition/add/", {**base, "formula": "VLOOKUP(policy_id)"})
    assert bad.status_code == 200 and "VLOOKUP is not in the formula library" in bad.content.decode()
    good = admin_client.post("/admin/ontology/metricdefinition/add/", {**base, "formula": "COUNT(policy_id)"})
    assert good.status_code == 302
    assert MetricDefinition.objects.get().depends_on_attributes == ["policy_snapshot.policy_id"]


def test_admin_change_then_revert_from_history_alters_the_table(admin_client):
    client = ClientFactory()
    admin_client.post(ADD, {**_entity_form(client), **_attribute_rows(SNAPSHOT_ROWS)})
    entity = EntityDefinition.objects.get()
    ids = [str(a.pk) for a in entity.attributes.all()]
    change_url = f"/admin/ontology/entitydefinition/{entity.pk}/change/"
    rows = [*SNAPSHOT_ROWS, {"code": "lob", "data_type": "string", "nullable": "on"}]
    form = {"name": "Policy snapshots", "description": "", **_attribute_rows(rows, initial=3, ids=ids)}
    for i in range(3):
        form[f"attributes-{i}-entity"] = entity.pk
    response = admin_client.post(change_url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert "lob" in {c.name for c in table_columns(table=entity.table_name)}

    history = admin_client.get(f"/admin/ontology/entitydefinition/{entity.pk}/history/")
    assert history.status_code == 200
    from reversion.models import Version

    first = Version.objects.get_for_object(entity).order_by("pk").first()
    confirm = admin_client.get(f"/admin/ontology/entitydefinition/{entity.pk}/history/{first.pk}/")
    assert "Yes, revert" in confirm.content.decode()
    assert EntityDefinition.objects.get().name == "Policy snapshots"  # a GET changes nothing
    reverted = admin_client.post(f"/admin/ontology/entitydefinition/{entity.pk}/history/{first.pk}/")
    assert reverted.status_code == 302
    entity.refresh_from_db()
    assert entity.name == "Policy snapshot"
    assert [a.code for a in entity.attributes.all()] == ["snapshot_date", "policy_id", "status"]
