"""The rollups API: CRUD with the table following, validation naming the
field, roles, tenant isolation, refresh on demand, and the backend report."""

import pytest
from celery import current_app as celery
from rest_framework.test import APIClient

from apps.calculations.models import Rollup
from apps.calculations.tests.scenarios import created, rows_load
from apps.calculations.tests.test_rollups import admin_api, readings_define, readings_rows
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory
from apps.warehouse.selectors import table_exists

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

URL = "/api/v1/calculations/rollups/"
HOURLY = {
    "entity": "readings",
    "grain": "hour",
    "dimensions": ["sensor"],
    "measures": [{"attribute": "value", "states": ["max", "sum", "count"]}],
    "schedule": "*/10 * * * *",
    "start_offset": "PT2H",
}


@pytest.fixture
def api():
    api, _ = admin_api()
    readings_define(api)
    return api


def test_create_read_change_and_delete_a_rollup_with_its_table(api):
    body = created(api.post(URL, HOURLY, format="json"))
    table = body["table"].split(".")[1]
    assert body["table"] == f"analytics_data.{table}" and table_exists(table=table)
    assert body["measures"] == [{"attribute": "value", "states": ["sum", "count", "max"]}]  # STATES order
    assert (body["start_offset"], body["end_offset"]) == ("02:00:00", "01:00:00")  # end_offset: one grain
    assert (body["watermark"], body["stale"], body["auto"], body["enabled"]) == (None, [], False, True)

    listed = api.get(URL, {"entity": "readings"}).json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    assert api.get(URL, {"entity": "sites"}).json()["results"] == []
    assert api.get(f"{URL}{body['id']}").json()["schedule"] == "*/10 * * * *"

    changed = api.patch(f"{URL}{body['id']}/", {"enabled": False, "end_offset": "0"}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["enabled"], changed.json()["end_offset"]) == (False, "00:00:00")

    rows_load(api, "readings", readings_rows(hours=2))
    Rollup.objects.filter(pk=body["id"]).update(auto=True)
    reshaped = api.patch(f"{URL}{body['id']}/", {"dimensions": ["sensor", "site_id"]}, format="json").json()
    assert reshaped["dimensions"] == ["sensor", "site_id"] and reshaped["auto"] is False

    assert api.delete(f"{URL}{body['id']}/").status_code == 204
    assert not table_exists(table=table)
    assert api.get(f"{URL}{body['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"entity": "nothing"}, "entity"),
        ({"entity": "sites"}, "entity"),  # a reference entity
        ({"grain": "week"}, "grain"),
        ({"dimensions": ["colour"]}, "dimensions"),
        ({"dimensions": ["measured_at"]}, "dimensions"),  # the time attribute
        ({"dimensions": ["payload"]}, "dimensions"),  # json
        ({"measures": [{"attribute": "reading_id", "states": ["sum"]}]}, "measures"),  # sum of text
        ({"measures": [{"attribute": "value", "states": ["median"]}]}, "measures"),
        ({"schedule": "every minute"}, "schedule"),
        ({"schedule": "*/5 * * * * *"}, "schedule"),  # seconds field
        ({"start_offset": "-P1D"}, "start_offset"),
        ({"end_offset": "-PT1H"}, "end_offset"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, change, field):
    problem = assert_error(api.post(URL, {**HOURLY, **change}, format="json"), 400)
    assert field in problem["details"] or problem["details"].get("field") == field, problem
    assert not Rollup.objects.exists()


def test_a_second_rollup_for_the_same_entity_and_grain_is_a_conflict(api):
    created(api.post(URL, HOURLY, format="json"))
    assert_error(api.post(URL, HOURLY, format="json"), 409, "duplicate_rollup")


def test_entity_and_grain_cannot_change(api):
    body = created(api.post(URL, HOURLY, format="json"))
    problem = assert_error(api.patch(f"{URL}{body['id']}/", {"grain": "day"}, format="json"), 400)
    assert "grain" in problem["details"]


def test_members_read_and_only_administrators_write(api):
    body = created(api.post(URL, HOURLY, format="json"))
    admin = Rollup.objects.get(pk=body["id"]).client
    viewer = APIClient()
    viewer.force_authenticate(MembershipFactory(client=admin, role="analyst", is_default=True).user)
    assert viewer.get(f"{URL}{body['id']}/").status_code == 200
    assert viewer.patch(f"{URL}{body['id']}/", {"enabled": False}, format="json").status_code == 403
    assert viewer.post(f"{URL}{body['id']}/refresh/").status_code == 403
    assert viewer.delete(f"{URL}{body['id']}/").status_code == 403


def test_another_clients_rollup_is_not_found(api):
    body = created(api.post(URL, HOURLY, format="json"))
    other, _ = admin_api()
    assert other.get(URL).json()["results"] == []
    for response in (
        other.get(f"{URL}{body['id']}/"),
        other.patch(f"{URL}{body['id']}/", {"enabled": False}, format="json"),
        other.post(f"{URL}{body['id']}/refresh/"),
        other.delete(f"{URL}{body['id']}/"),
    ):
        assert response.status_code == 404, response.content
    assert Rollup.objects.get(pk=body["id"]).enabled


@pytest.fixture
def eager_tasks():
    saved = {key: celery.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    celery.conf.update(saved)


def test_refresh_enqueues_a_task_and_answers_202(api, eager_tasks):
    rows_load(api, "readings", readings_rows(hours=2))
    body = created(api.post(URL, HOURLY, format="json"))
    response = api.post(f"{URL}{body['id']}/refresh/")
    assert response.status_code == 202, response.content
    assert response.json()["rollup"] == body["id"] and len(response.json()["task_id"]) == 36
    after = api.get(f"{URL}{body['id']}/").json()  # the eager task ran on commit
    assert after["watermark"] is not None and after["last_refresh_rows"] > 0 and after["last_error"] == ""


def test_the_backend_reports_the_timescaledb_licence(api):
    body = api.get(f"{URL}backend/").json()
    assert body["backend"] == "tables"
    assert body["timescaledb_license"] == "apache"
    assert body["continuous_aggregates_available"] is False
