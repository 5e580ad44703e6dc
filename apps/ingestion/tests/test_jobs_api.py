"""/api/v1/sources/jobs/: create, read, change, delete jobs; the checks on a
job's body; the schedule in words and its beat PeriodicTask kept in step;
tenant isolation and the permission."""

import pytest
from django_celery_beat.models import PeriodicTask

from apps.core.tests.factories import MembershipFactory
from apps.ingestion.tests.helpers import connection_make, job_body, policy_entity

pytestmark = pytest.mark.django_db

URL = "/api/v1/sources/jobs/"


@pytest.fixture
def client_id(user):
    return user.memberships.get().client_id


@pytest.fixture
def setup(client_id):
    # a connection row only (never reached): these tests do not read the source
    source = {"kind": "postgresql", "settings": {"host": "127.0.0.1", "port": 1, "database": "x"},
              "credentials": {"username": "u", "password": "secret-pw"}}  # fmt: skip
    connection_make(client_id, source)
    policy_entity(client_id)


def _error(response):
    return response.json()["error"]


def test_create_read_list_and_the_schedule_in_words(auth_client, setup, client_id):
    response = auth_client.post(URL, job_body(schedule="0 2 * * *"), format="json")
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["schedule_text"] == "At 02:00 (UTC)"
    assert len(job["next_runs"]) == 5 and job["next_runs"][0].endswith(("T02:00:00Z", "T02:00:00+00:00"))
    assert job["incremental"] == {"column": "EFF_DT"} and job["watermark"] == "" and job["last_run"] is None
    task = PeriodicTask.objects.get(name=f"ingestion:{client_id}:policies")
    assert task.task == "ingestion.run_job" and task.enabled
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("0", "2", "UTC")
    assert '"code": "policies"' in task.kwargs
    assert auth_client.get(URL + "policies").json()["code"] == "policies"
    listed = auth_client.get(URL).json()
    assert listed["count"] == 1 and listed["results"][0]["code"] == "policies"


def test_the_periodic_task_follows_the_job(auth_client, setup, client_id):
    auth_client.post(URL, job_body(schedule="0 2 * * *"), format="json")
    name = f"ingestion:{client_id}:policies"
    response = auth_client.patch(URL + "policies/", {"schedule": "*/15 * * * 1-5"}, format="json")
    assert response.status_code == 200, response.content
    assert PeriodicTask.objects.get(name=name).crontab.minute == "*/15"
    auth_client.patch(URL + "policies/", {"enabled": False}, format="json")
    assert PeriodicTask.objects.get(name=name).enabled is False
    auth_client.patch(URL + "policies/", {"schedule": ""}, format="json")
    assert not PeriodicTask.objects.filter(name=name).exists()
    auth_client.patch(URL + "policies/", {"schedule": "5 4 * * *", "enabled": True}, format="json")
    assert PeriodicTask.objects.get(name=name).enabled is True
    assert auth_client.delete(URL + "policies/").status_code == 204
    assert not PeriodicTask.objects.filter(name=name).exists()
    assert auth_client.get(URL + "policies/").status_code == 404


@pytest.mark.parametrize(
    ("schedule", "field"),
    [("61 2 * * *", "minute"), ("0 25 * * *", "hour"), ("0 2 * 13 *", "month"), ("0 2 * * funday", "day of week")],
)
def test_a_cron_that_does_not_parse_names_its_field(auth_client, setup, schedule, field):
    response = auth_client.post(URL, job_body(schedule=schedule), format="json")
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_schedule" and _error(response)["details"]["field"] == field
    assert field in _error(response)["message"]
    assert not PeriodicTask.objects.filter(task="ingestion.run_job").exists()


def test_a_cron_of_the_wrong_length(auth_client, setup):
    response = auth_client.post(URL, job_body(schedule="0 2 * *"), format="json")
    assert response.status_code == 400 and _error(response)["code"] == "invalid_schedule"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"connection": "nope"}, "unknown_connection"),
        ({"entity": "nope"}, "unknown_entity"),
        ({"query": "SELECT 1"}, "invalid_source"),
        ({"object": ""}, "invalid_source"),
        ({"transform": "clean_up"}, "transform_not_available"),
        ({"mapping": {"fields": {"no_such_attribute": {"source": "X"}}}}, "invalid_mapping"),
        ({"code": "Bad Code"}, "invalid_code"),
    ],
)
def test_a_bad_body_answers_400_naming_the_problem(auth_client, setup, changes, code):
    response = auth_client.post(URL, job_body(**changes), format="json")
    assert response.status_code == 400, response.content
    assert _error(response)["code"] == code


def test_batch_size_is_bounded(auth_client, setup):
    response = auth_client.post(URL, job_body(batch_size=100_001), format="json")
    assert response.status_code == 400 and "batch_size" in response.content.decode()


def test_a_duplicate_code_is_a_conflict(auth_client, setup):
    auth_client.post(URL, job_body(), format="json")
    assert auth_client.post(URL, job_body(), format="json").status_code == 409


def test_another_clients_job_is_not_found(auth_client, setup, api_client):
    auth_client.post(URL, job_body(), format="json")
    other = MembershipFactory(is_default=True).user
    api_client.force_authenticate(other)
    assert api_client.get(URL + "policies/").status_code == 404
    assert api_client.post(URL + "policies/run").status_code == 404
    assert api_client.get(URL + "policies/runs/").status_code == 404
    assert api_client.get(URL).json()["count"] == 0


def test_a_viewer_is_refused(api_client, setup, client_id):
    viewer = MembershipFactory(is_default=True, role="viewer", client_id=client_id).user
    api_client.force_authenticate(viewer)
    assert api_client.get(URL).status_code == 403
    assert api_client.post(URL, job_body(), format="json").status_code == 403


def test_the_schema_names_the_operations(auth_client):
    schema = auth_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    if schema.status_code != 200:
        pytest.skip("no schema endpoint at /api/v1/schema/")
    text = schema.content.decode()
    for operation in ("ingestion_jobs_create", "ingestion_jobs_run", "ingestion_job_runs_list"):
        assert operation in text


def test_another_clients_connection_is_unknown_here(auth_client, setup):
    other = MembershipFactory(is_default=True).client_id
    source = {"kind": "postgresql", "settings": {"host": "127.0.0.1", "database": "x"}, "credentials": {}}
    connection_make(other, source, code="theirs")
    response = auth_client.post(URL, job_body(connection="theirs"), format="json")
    assert response.status_code == 400 and _error(response)["code"] == "unknown_connection"
    assert "theirs" in _error(response)["message"]
