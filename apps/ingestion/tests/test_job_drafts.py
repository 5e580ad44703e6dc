"""Draft jobs (docs/sources.md, "Draft jobs"): saved with the mapping empty or
incomplete, listing what remains; never run (the API's run, a dry run, the
beat's scheduled run); their PeriodicTask off until published; published by
`draft: false` with the full check. Without `draft`, nothing changes."""

import pytest
from django_celery_beat.models import PeriodicTask

from apps.ingestion.models import IngestionJob, IngestionRun
from apps.ingestion.runner import job_run
from apps.ingestion.tests.helpers import MAPPING, connection_make, job_body, policy_entity

pytestmark = pytest.mark.django_db

URL = "/api/v1/sources/jobs/"
INCOMPLETE = {"fields": {"status": {"source": "STAT_CD"}}}


@pytest.fixture
def client_id(user):
    return user.memberships.get().client_id


@pytest.fixture
def setup(client_id):
    # a connection row only (never reached): a draft is refused before any source is read
    source = {"kind": "postgresql", "settings": {"host": "127.0.0.1", "port": 1, "database": "x"},
              "credentials": {"username": "u", "password": "secret-pw"}}  # fmt: skip
    connection_make(client_id, source)
    policy_entity(client_id)


def _error(response):
    return response.json()["error"]


def _draft(auth_client, **changes):
    body = job_body(**{"mapping": {}, "draft": True, "schedule": "0 2 * * *", **changes})
    response = auth_client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_draft_is_saved_with_an_empty_mapping_and_lists_its_problems(auth_client, setup):
    job = _draft(auth_client)
    assert job["draft"] is True and job["mapping"] == {}
    assert set(job["mapping_problems"]) == {"effective", "policy"}  # the two required attributes
    assert "effective" in job["mapping_problems"]["effective"]
    assert auth_client.get(URL + "policies/").json()["mapping_problems"] == job["mapping_problems"]
    listed = auth_client.get(URL).json()["results"][0]
    assert listed["draft"] is True and set(listed["mapping_problems"]) == {"effective", "policy"}
    # Still a draft after a partial change without `draft`; one problem left.
    changed = auth_client.patch(URL + "policies/", {"mapping": {"fields": {"effective": {"source": "EFF_DT"}}}},
                                format="json").json()  # fmt: skip
    assert changed["draft"] is True and list(changed["mapping_problems"]) == ["policy"]


def test_a_draft_still_checks_everything_but_its_mapping(auth_client, setup):
    for changes, code in [
        ({"entity": "nope"}, "unknown_entity"),
        ({"connection": "nope"}, "unknown_connection"),
        ({"object": ""}, "invalid_source"),
        ({"schedule": "0 25 * * *"}, "invalid_schedule"),
        ({"mapping": ["not", "an", "object"]}, "invalid"),
        ({"mapping": {"fields": []}}, "invalid_mapping"),
        ({"mapping": {"fieldz": {}}}, "invalid_mapping"),
    ]:
        body = {**job_body(mapping={}, draft=True), **changes}
        response = auth_client.post(URL, body, format="json")
        assert response.status_code == 400, (changes, response.content)
        assert _error(response)["code"].startswith(code), (changes, _error(response))
    assert not IngestionJob.objects.exists()


def test_without_draft_an_incomplete_mapping_is_still_refused(auth_client, setup):
    for body in (job_body(mapping=INCOMPLETE), job_body(mapping=INCOMPLETE, draft=False)):
        response = auth_client.post(URL, body, format="json")
        assert response.status_code == 400 and _error(response)["code"] == "invalid_mapping"
        assert {"effective", "policy"} <= set(_error(response)["details"])
    created = auth_client.post(URL, job_body(), format="json").json()
    assert created["draft"] is False and created["mapping_problems"] == {}


def test_a_draft_never_runs(auth_client, setup, client_id):
    _draft(auth_client, mapping=INCOMPLETE)
    response = auth_client.post(URL + "policies/run")
    assert response.status_code == 409
    error = _error(response)
    assert error["code"] == "job_draft"
    assert error["message"] == (
        "Job 'policies' is a draft: its mapping is incomplete (effective, policy); "
        "finish it on the Data Mapper page or PATCH draft=false."
    )
    dry = auth_client.post(URL + "policies/run?dry_run=5")
    assert dry.status_code == 400 and _error(dry)["code"] == "invalid_mapping"
    assert {"effective", "policy"} <= set(_error(dry)["details"])
    # The beat's path (no run id): no run is made for a draft.
    assert job_run(client_id=client_id, code="policies") is None
    assert not IngestionRun.objects.exists()


def test_publish_is_refused_while_incomplete_then_enables_the_schedule(auth_client, setup, client_id):
    _draft(auth_client)
    task = PeriodicTask.objects.get(name=f"ingestion:{client_id}:policies")
    assert task.enabled is False  # a draft's schedule stays off
    refused = auth_client.patch(URL + "policies/", {"draft": False}, format="json")
    assert refused.status_code == 400 and _error(refused)["code"] == "invalid_mapping"
    assert {"effective", "policy"} <= set(_error(refused)["details"])
    assert "effective" in _error(refused)["message"]
    assert IngestionJob.objects.get().is_draft is True
    task.refresh_from_db()
    assert task.enabled is False
    # Complete but still a draft (saved explicitly as one): still off, still refused to run.
    kept = auth_client.patch(URL + "policies/", {"mapping": MAPPING}, format="json").json()
    assert kept["draft"] is True and kept["mapping_problems"] == {}
    task.refresh_from_db()
    assert task.enabled is False
    assert _error(auth_client.post(URL + "policies/run"))["code"] == "job_draft"
    published = auth_client.patch(URL + "policies/", {"draft": False}, format="json")
    assert published.status_code == 200, published.content
    assert published.json()["draft"] is False
    task.refresh_from_db()
    assert task.enabled is True
    # Back to a draft: off again.
    auth_client.patch(URL + "policies/", {"draft": True}, format="json")
    task.refresh_from_db()
    assert task.enabled is False


def test_the_schema_documents_the_draft_field(auth_client):
    schema = auth_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    if schema.status_code != 200:
        pytest.skip("no schema endpoint at /api/v1/schema/")
    text = schema.content.decode()
    assert "mapping_problems" in text and "never runs" in text
