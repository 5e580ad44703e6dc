"""The whole path on a real Celery worker process: POST a run, the worker
generates and loads the data, GET shows it finished, and its progress
events cross from the worker to a subscribed WebSocket through Redis.

The definitions are made in the test process first (the same
ScenarioManager call the worker would make): they record django-reversion
versions, which name content types, and the worker's content-type cache
outlives the flush between transactional tests (which renumbers them)."""

import asyncio
from datetime import date

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.core.tests.waiting import celery_idle_wait, wait_until
from apps.simulation import services
from apps.simulation.generators import scenario_build
from apps.simulation.manager import ScenarioManager
from apps.simulation.tasks import simulation_run_task

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]


@pytest.fixture
def worker(celery_worker_process):
    """The worker, idle again before the test's tables are flushed (metric
    definitions queue rollup work that would otherwise race the flush)."""
    yield celery_worker_process
    celery_idle_wait(timeout=30)


def _define(client_id: int, code: str) -> None:
    scenario = scenario_build(code=code, start=date(2026, 1, 1), end=date(2026, 2, 1))
    ScenarioManager(client_id=client_id).ontology_ensure(scenario)


def _wait_finished(api, run_id: int, timeout: float = 60.0) -> dict:
    def finished() -> dict | None:
        run = api.get(f"/api/v1/simulation/runs/{run_id}").json()
        return run if run["status"] in ("succeeded", "failed") else None

    return wait_until(finished, what=f"run {run_id} finished", timeout=timeout)


def test_a_posted_run_is_executed_by_the_worker(api, analyst, worker):
    _define(analyst.client_id, "sales_growth")
    response = api.post(
        "/api/v1/simulation/runs/",
        {"scenario": "sales_growth", "start": "2026-01-01", "end": "2026-02-01", "params": {"seed": 9}},
        format="json",
    )
    assert response.status_code == 202, response.content
    run = _wait_finished(api, response.json()["id"])
    assert (run["status"], run["progress"], run["error"]) == ("succeeded", 1.0, "")
    assert run["rows_written"] == run["rows_planned"] > 1000
    assert run["summary"]["rows"]["sales_people"] == 13
    revenue = api.get("/api/v1/metrics/revenue", {"start": "2026-01-01", "end": "2026-02-01", "granularity": "month"})
    assert revenue.json()["series"][0]["value"] > 0


def test_progress_from_the_worker_reaches_the_websocket(api, analyst, worker):
    _define(analyst.client_id, "churn_spike")
    run = services.run_create(
        client_id=analyst.client_id,
        scenario="churn_spike",
        start=date(2026, 3, 2),
        end=date(2026, 3, 30),
        params={"period": "week", "lobs": {"Health": {"start": 2000, "end": 2000, "new": 100}}},
        user=analyst.user,
    )

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(analyst.user)}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": run.channel})
        while (answer := await ws.receive_json_from(timeout=3)).get("type") != "subscribed":
            assert answer.get("type") != "error", answer
        simulation_run_task.delay(run.pk)  # subscribed first: the channel is ephemeral
        events = []
        deadline = asyncio.get_running_loop().time() + 60
        while not events or events[-1]["status"] not in ("succeeded", "failed"):
            message = await ws.receive_json_from(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
            if "event" in message:
                events.append(message["event"])
        await ws.disconnect()
        return events

    events = async_to_sync(scenario)()
    assert events[0]["status"] == "running"
    assert events[-1]["status"] == "succeeded", events[-1]["error"]
    assert events[-1]["progress"] == 1.0
    assert events[-1]["rows_written"] == _wait_finished(api, run.pk)["rows_written"] > 50_000
    assert len(events) >= 3  # running, progress, done
