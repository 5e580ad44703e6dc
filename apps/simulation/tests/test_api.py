"""POST/GET /api/v1/simulation/runs/ (API.md, Platform): a run is queued,
executed (here in-process; test_worker.py runs it on a real Celery worker)
and followed; bad input is a 400 naming the parameter; runs are per client."""

import pytest
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory
from apps.ontology.services.client_config import client_config_update
from apps.simulation import services, tasks

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

RUNS = "/api/v1/simulation/runs/"
SMALL = {
    "scenario": "health_retention",
    "start": "2026-03-02",
    "end": "2026-03-16",
    "params": {"period": "week", "lobs": {"Health": {"start": 1000, "end": 950, "new": 50}}},
}


@pytest.fixture
def queued(monkeypatch):
    """Run ids the view enqueued (no worker in these tests)."""
    ids = []
    monkeypatch.setattr(tasks.simulation_run_task, "delay", ids.append)
    return ids


def test_a_broker_that_refuses_the_task_leaves_the_run_queued_and_the_answer_202(api, monkeypatch):
    # The run committed before the enqueue: the client is told so (a retry
    # would start a second run) and the run's page says no worker took it.
    def refuse(run_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.simulation_run_task, "delay", refuse)
    response = api.post(RUNS, SMALL, format="json")
    assert response.status_code == 202, response.content
    assert api.get(f"{RUNS}{response.json()['id']}").json()["status"] == "queued"


def test_post_queues_a_run_and_get_follows_it_to_the_end(api, queued):
    response = api.post(RUNS, SMALL, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["progress"] == 0.0
    assert body["channel"] == f"simulation.run_{body['id']}"
    assert queued == [body["id"]]
    # Defaults filled in: the run can be repeated exactly.
    assert body["params"]["seed"] == 42

    services.run_execute(run_id=queued[0])
    run = api.get(f"{RUNS}{body['id']}").json()
    assert (run["status"], run["progress"], run["error"]) == ("succeeded", 1.0, "")
    assert run["rows_written"] == run["rows_planned"] > 14 * 950
    assert run["summary"]["rows"] == {"policy_snapshot": run["rows_written"]}
    assert run["summary"]["expected"]["counts"][0] == {
        "period": "2026-03-02",
        "lob": "Health",
        "start": 1000,
        "end": 950,
        "new": 50,
        "retention_rate": 0.9,
    }
    # Without the trailing slash too; the metrics agree with the summary.
    assert api.get(f"{RUNS}{body['id']}").status_code == 200
    metric = api.get(
        "/api/v1/metrics/retention_rate", {"start": "2026-03-02", "end": "2026-03-09", "granularity": "week"}
    )
    assert metric.json()["series"][0]["value"] == 0.9

    listing = api.get(RUNS).json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == body["id"]


def test_a_run_again_over_written_days_is_409_naming_the_entity(api, queued):
    services.run_execute(run_id=api.post(RUNS, SMALL, format="json").json()["id"])
    response = api.post(RUNS, {**SMALL, "start": "2026-03-09", "end": "2026-03-23"}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "data_conflict" and error["details"]["entity"] == "policy_snapshot"
    # A later range reuses the definitions.
    later = api.post(RUNS, {**SMALL, "start": "2026-04-06", "end": "2026-04-13"}, format="json")
    assert later.status_code == 202
    run = services.run_execute(run_id=later.json()["id"])
    assert run.status == "succeeded"
    assert run.summary["ontology"]["created"] == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {"params": {"lobs": {"Health": {"start": 1000, "end": 1100, "new": 50}}}},
            "params.lobs.Health.end",
            "Start + New",
        ),
        ({"params": {"lobs": {"Motor": {"start": -1, "end": 0, "new": 0}}}}, "params.lobs.Motor.start", ">= 0"),
        ({"params": {"lobs": {"Motor": {"start": 10, "end": 5, "new": -2}}}}, "params.lobs.Motor.new", ">= 0"),
        ({"start": "2026-03-16", "end": "2026-03-02"}, "end", "not after start"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "end", "at most 1098"),
        ({"scenario": "tea_party"}, "scenario", "is not a scenario"),
        ({"start": "2026-13-01"}, "start", "Date has wrong format"),
        ({"params": {"period": "month"}}, "start", "not the first day of a month"),
        ({"params": {"spike_churn": 0.5}}, "params.spike_churn", "Extra inputs"),
        ({"colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(api, queued, change, field, words):
    payload = {**SMALL, **change}
    payload["params"] = {**SMALL["params"], **change.get("params", {})}
    response = api.post(RUNS, payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    named = error["details"].get("field") or next(iter(error["details"]))
    assert named == field
    assert field in error["message"]
    assert words.replace(">= 0", "greater than or equal to 0") in error["message"]
    assert queued == []


def test_runs_belong_to_their_client(api, queued):
    mine = api.post(RUNS, SMALL, format="json").json()["id"]
    other = MembershipFactory(role="admin", is_default=True)
    theirs = APIClient()
    theirs.force_authenticate(other.user)
    response = theirs.get(f"{RUNS}{mine}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert theirs.get(RUNS).json()["count"] == 0


def test_viewers_read_but_cannot_start_runs_and_strangers_get_401(api_client, queued):
    viewer = MembershipFactory(role="viewer", is_default=True)
    api_client.force_authenticate(viewer.user)
    assert api_client.post(RUNS, SMALL, format="json").status_code == 403
    assert api_client.get(RUNS).status_code == 200
    api_client.force_authenticate(None)
    assert APIClient().get(RUNS).status_code == 401


def test_scenarios_list_their_parameters(api):
    scenarios = {s["code"]: s for s in api.get("/api/v1/simulation/scenarios/").json()}
    assert list(scenarios) == ["health_retention", "sales_growth", "churn_spike", "seasonal_peak"]
    properties = scenarios["churn_spike"]["params_schema"]["properties"]
    assert {"spike_start", "spike_end", "spike_churn", "lobs", "period"} <= set(properties)
    assert properties["spike_churn"]["default"] == 0.25


def test_a_client_with_simulations_switched_off_cannot_start_a_run(api, analyst, queued):
    client_config_update(client_id=analyst.client_id, features={"simulations": False})
    response = api.post(RUNS, SMALL, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "feature_disabled"
    assert "Simulations are switched off for this client" in response.json()["error"]["message"]
    assert queued == [] and api.get(RUNS).json()["count"] == 0

    client_config_update(client_id=analyst.client_id, features={"simulations": True})
    assert api.post(RUNS, SMALL, format="json").status_code == 202
