"""The simulation controller in a real browser (Playwright driving Debian's
Chromium) against the production ASGI server (daphne: pages and /ws/) and a
real Celery worker: pick Health Retention, see impossible counts refused next
to the input, fix them, start, and watch the progress bar reach 100% from
the events the worker pushes over WebSocket; then open the dashboard."""

import json
import re
from datetime import date
from pathlib import Path

import pytest

from apps.core.tests.factories import MembershipFactory
from apps.core.tests.waiting import celery_idle_wait, session_worker_only
from apps.simulation import selectors
from apps.simulation.generators import scenario_build
from apps.simulation.manager import ScenarioManager

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]


@pytest.fixture
def worker(celery_worker_process):
    """The session's Celery worker; consuming again and idle after the test,
    before its tables are flushed (a run racing the flush would fail the next test)."""
    from celery_app import app

    yield app
    app.control.add_consumer("celery", reply=True, timeout=5, **session_worker_only())
    celery_idle_wait(timeout=60, interval=0.2)


def _define_retention(client_id: int) -> None:
    """The scenario's definitions, made here rather than by the worker: they
    record django-reversion versions naming content types, and the worker's
    content-type cache outlives the flush between transactional tests (which
    renumbers them). The run then reuses them (apps/simulation/tests/test_worker.py)."""
    scenario = scenario_build(code="health_retention", start=date(2026, 1, 1), end=date(2026, 2, 1))
    ScenarioManager(client_id=client_id).ontology_ensure(scenario)


def _sign_in(page, url: str, member) -> None:
    page.goto(f"{url}/simulation/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(member.user.username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/simulation/")


def _progress_frames(page) -> list[dict]:
    """The run events the page receives on its WebSocket, as they arrive."""
    frames: list[dict] = []

    def on_socket(socket):
        def on_frame(payload):
            try:
                frame = json.loads(payload)
            except (TypeError, ValueError):
                return
            if isinstance(frame, dict) and (frame.get("event") or {}).get("type") == "simulation.run":
                frames.append(frame["event"])

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return frames


def test_start_a_run_and_watch_its_progress_reach_100_percent_over_websocket(browser, asgi_server, worker):
    ARTIFACTS.mkdir(exist_ok=True)
    member = MembershipFactory(is_default=True, client__code="acme", client__name="Acme Health")
    _define_retention(member.client_id)
    url = asgi_server["url"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    frames = _progress_frames(page)
    _sign_in(page, url, member)

    # The empty state, then pick the scenario: its parameters load from the server.
    assert "No runs yet." in page.locator("#sim-runs").inner_text()
    page.get_by_label("Sales Growth").check()
    page.get_by_role("group", name="Sales Growth parameters").wait_for()
    page.get_by_label("Health Retention").check()
    page.get_by_role("group", name="Health Retention parameters").wait_for()
    assert page.get_by_label("Health Start").input_value() == "600"  # the scenario's default

    # Impossible counts: End above Start + New is refused next to the input, nothing queued.
    page.get_by_label("Start", exact=True).fill("2026-01-01")
    page.get_by_label("End", exact=True).fill("2026-04-01")
    page.get_by_label("Health Start").fill("1000")
    page.get_by_label("Health End").fill("1100")
    page.get_by_label("Health New").fill("50")
    page.get_by_role("button", name="Start run").click()
    error = page.locator('[data-field="params.lobs.Health.end"]')
    error.wait_for()
    assert "End (1100) cannot exceed Start + New (1000 + 50)" in error.inner_text()
    assert page.get_by_label("Health End").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Health End").input_value() == "1100"  # what was typed is kept
    assert list(selectors.run_list(client_id=member.client_id)) == []
    page.screenshot(path=str(ARTIFACTS / "simulation-error.png"), full_page=True)

    # Fixed. The worker holds off consuming until the page follows the run, so
    # the progress the test watches is the worker's, pushed over the socket.
    worker.control.cancel_consumer("celery", reply=True, timeout=5, **session_worker_only())
    page.get_by_label("Health End").fill("950")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/simulation/runs/\d+/$"))
    [run] = selectors.run_list(client_id=member.client_id)
    assert run.status == "queued"
    bar = page.get_by_role("progressbar", name=f"Progress of run {run.pk}")
    assert bar.get_attribute("aria-valuenow") == "0"
    page.locator("[data-live-indicator]").wait_for(state="visible")  # subscribed to simulation.run_<id>
    page.screenshot(path=str(ARTIFACTS / "simulation-running.png"), full_page=True)

    worker.control.add_consumer("celery", reply=True, timeout=5, **session_worker_only())
    page.wait_for_function(
        "() => { const p = document.querySelector('[data-run-progress]');"
        " return p && p.value === 100 && p.getAttribute('aria-valuenow') === '100'; }",
        timeout=90_000,
    )
    page.get_by_role("link", name=re.compile("Open the dashboard")).wait_for()
    status = page.locator("[data-run-panel] [role=status]").inner_text()
    assert "Finished" in status and "rows written" in status
    # The bar moved on the worker's events: running, then on to succeeded at 100%.
    statuses = [f["status"] for f in frames if f["id"] == run.pk]
    assert statuses[0] == "running" and statuses[-1] == "succeeded", frames
    assert frames[-1]["progress"] == 1.0 and frames[-1]["rows_written"] == frames[-1]["rows_planned"] > 0
    run.refresh_from_db()
    assert (run.status, run.rows_written) == ("succeeded", frames[-1]["rows_written"])
    page.screenshot(path=str(ARTIFACTS / "simulation.png"), full_page=True)

    # The run is listed; the dashboard opens on the metric the run feeds.
    page.goto(f"{url}/simulation/")
    row = page.locator(f'#sim-runs tr[data-run-id="{run.pk}"]')
    assert "Succeeded" in row.inner_text() and "Health Retention" in row.inner_text()
    page.goto(f"{url}/simulation/runs/{run.pk}/")
    page.get_by_role("link", name=re.compile("Open the dashboard")).click()
    page.wait_for_url(f"{url}/?metric=retention_rate")
    context.close()

    # The same in dark mode.
    dark = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = dark.new_page()
    _sign_in(page, url, member)
    page.locator(f'#sim-runs tr[data-run-id="{run.pk}"]').wait_for()
    page.screenshot(path=str(ARTIFACTS / "simulation-dark.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, tables scroll
    page.screenshot(path=str(ARTIFACTS / "simulation-mobile-dark.png"), full_page=True)
    page.goto(f"{url}/simulation/runs/{run.pk}/")
    page.screenshot(path=str(ARTIFACTS / "simulation-run-dark.png"), full_page=True)
    dark.close()


def test_without_a_websocket_the_run_page_polls_its_progress_to_the_end(browser, asgi_server, worker):
    from apps.simulation import services
    from apps.simulation.tasks import simulation_run_task

    member = MembershipFactory(is_default=True, client__code="acme_poll", client__name="Acme Polling")
    _define_retention(member.client_id)
    url = asgi_server["url"]
    context = browser.new_context()
    page = context.new_page()
    # Every socket to /ws/ is closed at once: the page must fall back to polling.
    page.route_web_socket(re.compile(r"/ws/"), lambda socket: socket.close())
    _sign_in(page, url, member)

    worker.control.cancel_consumer("celery", reply=True, timeout=5, **session_worker_only())
    run = services.run_create(
        client_id=member.client_id,
        user=member.user,
        scenario="health_retention",
        start=date(2026, 1, 5),
        end=date(2026, 2, 2),
        params={"period": "week", "lobs": {"Health": {"start": 500, "end": 490, "new": 10}}},
    )
    simulation_run_task.delay(run.pk)
    page.goto(f"{url}/simulation/runs/{run.pk}/")
    page.wait_for_function(f"() => !AE.simulation.isLive({run.pk})")
    with page.expect_request(lambda r: r.url.endswith(f"/simulation/runs/{run.pk}/") and r.headers.get("hx-request")):
        pass  # a poll while the run is queued: the socket is not following it
    assert page.locator("[data-live-indicator]").is_hidden()

    worker.control.add_consumer("celery", reply=True, timeout=5, **session_worker_only())
    page.get_by_role("link", name=re.compile("Open the dashboard")).wait_for(timeout=90_000)
    assert page.get_by_role("progressbar", name=f"Progress of run {run.pk}").get_attribute("aria-valuenow") == "100"
    assert "Finished" in page.locator("[data-run-panel] [role=status]").inner_text()
    context.close()
