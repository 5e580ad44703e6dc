"""The Data Source page (docs/sources.md, "The Data Source page") in
Chromium against daphne and a real Celery worker, on a real PostgreSQL
source database holding a table of policies: add a PostgreSQL connection
with the keyboard only, test it with a wrong password (the authentication
message shows, never the password), try the right one before saving ("Test
these settings") then save and test it, discover, preview
rows, create a job onto an entity (made through the API) with the "Daily at
02:00" preset (its words and next runs show): it is saved as a draft and the
Data Mapper page opens, the columns named like attributes bound already;
bind the last one by drag and drop and save, which publishes the job; run
it from the job list and watch the run reach "succeeded" with its row
counts, pushed over the WebSocket. Then the page at 390 px wide, and no
console errors throughout."""

import json
import re

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory
from apps.core.tests.waiting import celery_idle_wait, session_worker_only
from apps.ingestion.models import IngestionRun
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]
WRONG = "wrong-pass-4711"
POLICY = {
    "code": "policy",
    "name": "Policy",
    "kind": "time_series",
    "time_attribute": "effective",
    "attributes": [
        {"code": "effective", "data_type": "date", "nullable": False},
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "status", "data_type": "string"},
        {"code": "premium", "data_type": "decimal"},
    ],
}


# The elements reaching past the viewport's right edge (what a 390 px failure names).
WIDER_THAN_VIEWPORT = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap'))
  .slice(0, 8)
  .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""


@pytest.fixture
def worker(celery_worker_process):
    """The session's Celery worker; consuming again and idle after the test."""
    from celery_app import app

    yield app
    app.control.add_consumer("celery", reply=True, timeout=5, **session_worker_only())
    celery_idle_wait(timeout=60, interval=0.2)


def _ingestion_frames(page, channel: str) -> list[dict]:
    frames: list[dict] = []

    def on_socket(socket):
        def on_frame(payload):
            try:
                frame = json.loads(payload)
            except (TypeError, ValueError):
                return
            if isinstance(frame, dict) and frame.get("channel") == channel and frame.get("event"):
                frames.append(frame["event"])

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return frames


def _tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def _type_into(page, selector: str, text: str) -> None:
    _tab_to(page, selector)
    page.keyboard.type(text)


def test_connect_test_discover_preview_schedule_and_watch_a_run(signed_in_page, asgi_server, worker, pg_source):
    admin = MembershipFactory(role="admin", is_default=True, client__name="Acme Insurance", client__code="acme")
    api = APIClient()
    api.force_authenticate(admin.user)
    assert api.post("/api/v1/ontology/entities/", POLICY, format="json").status_code == 201
    pg_source["execute"]("CREATE TABLE policies (policy_id text PRIMARY KEY, eff_dt date NOT NULL, "
                         "status text, premium numeric(12,2))")  # fmt: skip
    pg_source["execute"]("INSERT INTO policies VALUES ('P1', '2026-01-01', 'A', 100.5), "
                         "('P2', '2026-01-02', 'T', 80), ('P3', '2026-01-03', 'A', 120)")  # fmt: skip
    settings, password = pg_source["settings"], pg_source["credentials"]["password"]
    url = asgi_server["url"]
    page = signed_in_page(url, admin.user, path="/")

    # The nav entry, the empty state; then add a connection with the keyboard only.
    page.locator("#main-nav a", has_text="Sources").click()
    page.get_by_test_id("connections-empty").wait_for()
    assert "how to reach one of your systems" in page.get_by_test_id("connections-empty").inner_text()
    _tab_to(page, '[data-testid="connections-empty"] a')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _type_into(page, "#f-code", "pas")
    _tab_to(page, "#f-kind")  # PostgreSQL is the default kind
    _type_into(page, "#f-name", "Policy administration")
    _type_into(page, "#f-host", settings["host"])
    _type_into(page, "#f-port", str(settings["port"]))
    _type_into(page, "#f-database", settings["database"])
    _type_into(page, "#f-username", pg_source["credentials"]["username"])
    _type_into(page, "#f-password", WRONG)
    _tab_to(page, "#connection-form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/sources/connections/pas/")

    # Test with the wrong password: the authentication stage and message, never the password.
    page.get_by_role("button", name="Test the connection").click()
    outcome = page.locator("[data-test-outcome]")
    outcome.wait_for()
    assert outcome.get_attribute("data-test-outcome") == "failed" and outcome.get_attribute("data-stage") == "auth"
    assert "Authentication failed" in outcome.inner_text()
    assert WRONG not in page.content()
    assert page.locator("#f-password").input_value() == ""

    # The right password tried before saving ("Test these settings"): ok, nothing saved yet.
    page.fill("#f-password", password)
    page.get_by_role("button", name="Test these settings").click()
    page.locator('#try-outcome [data-test-outcome="ok"]').wait_for()
    assert "nothing was saved" in page.locator("#try-outcome").inner_text()
    assert "failed: auth" in page.locator("#last-test").inner_text()  # the saved connection's last test

    # The right password (the rest of the form kept), saved; the test is ok.
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Test the connection").click()
    page.locator('[data-test-outcome="ok"]').wait_for()
    assert page.locator("#f-password").input_value() == ""

    # Discover: the table and its columns; preview its rows (then with the other limit).
    page.get_by_role("button", name="Discover").click()
    table = page.locator('[data-object="policies"]')
    table.wait_for()
    for column in ("policy_id", "eff_dt", "status", "premium"):
        assert column in table.inner_text()
    assert "primary key" in table.inner_text()
    table.get_by_role("button", name="Preview rows").click()
    grid = page.locator("[data-preview-grid]")
    grid.wait_for()
    assert grid.locator("tbody tr").count() == 3 and "P2" in grid.inner_text()
    page.select_option("#preview-limit", "100")
    page.get_by_text("(at most 100)").wait_for()
    screenshot(page, "sources-connection")

    # A job from this table, onto the entity, with the "Daily at 02:00" preset: a draft.
    with page.expect_navigation():
        table.get_by_role("button", name="Create a job from this").click()
    assert page.locator("#f-code").input_value() == "pas_policies"
    page.select_option("#f-entity", "policy")
    page.select_option("#f-incremental", "eff_dt")
    page.get_by_role("button", name="Daily at 02:00").click()
    assert page.locator("#f-schedule").input_value() == "0 2 * * *"
    page.locator("[data-schedule-text]", has_text="At 02:00 (UTC)").wait_for()
    assert page.locator("[data-next-runs] li").count() == 5
    with page.expect_navigation():
        page.get_by_role("button", name="Create the job").click()

    # The Data Mapper page: the columns named like attributes bound; eff_dt by drag and drop; save publishes.
    assert page.url.endswith("/sources/jobs/pas_policies/mapping/")
    expect(page.locator("h1 [data-draft]")).to_have_text("Draft")
    expect(page.get_by_test_id("chip-policy_id")).to_have_text("policy_id")
    expect(page.locator(".attribute.unmapped-required")).to_have_count(1)
    page.get_by_test_id("field-eff_dt").drag_to(page.get_by_test_id("slot-effective"))
    expect(page.get_by_test_id("chip-effective")).to_have_text("eff_dt")
    expect(page.get_by_test_id("validation-state")).to_have_text("ok")
    with page.expect_navigation():
        page.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#toasts")).to_contain_text("the job is published and can run")
    expect(page.locator("h1 [data-draft]")).to_have_count(0)

    # Run it from the job list: held until the job page follows the job's channel, then watched to the end.
    frames = _ingestion_frames(page, "ingestion.pas_policies")
    page.locator("#main-nav a", has_text="Sources").click()
    row = page.locator('tr[data-job="pas_policies"]')
    assert "Draft" not in row.inner_text()
    worker.control.cancel_consumer("celery", reply=True, timeout=5, **session_worker_only())
    with page.expect_navigation():
        row.get_by_role("button", name="Run pas_policies now").click()
    assert page.url.endswith("/sources/jobs/pas_policies/")
    assert "At 02:00 (UTC)" in page.locator("h1 + p").inner_text()
    page.locator('tr[data-status="queued"]').wait_for()
    page.locator("[data-job-runs] [data-live-indicator]").wait_for(state="visible")
    worker.control.add_consumer("celery", reply=True, timeout=5, **session_worker_only())
    done = page.locator('tr[data-status="succeeded"]')
    done.wait_for(timeout=90_000)
    # The event marks the row succeeded at once; the history it then re-reads brings the watermark.
    expect(done).to_contain_text("2026-01-03")  # the watermark after
    expect(done.locator("[data-rows-read]")).to_have_text("3")
    expect(done.locator("[data-rows-written]")).to_have_text("3")
    expect(done.locator("[data-rows-rejected]")).to_have_text("0")
    assert any(f["status"] == "succeeded" and f["rows_written"] == 3 for f in frames), frames
    assert IngestionRun.objects.get().status == "succeeded"
    screenshot(page, "sources-job")

    assert page.js_errors == []

    # 390 px wide: the connection page fits, the preview grid scrolls inside its box.
    narrow = signed_in_page(url, admin.user, path="/sources/connections/pas/", viewport={"width": 390, "height": 800})
    narrow.get_by_role("button", name="Discover").click()
    narrow.locator('[data-object="policies"]').get_by_role("button", name="Preview rows").click()
    narrow.locator("[data-preview-grid]").wait_for()
    wide = narrow.evaluate(WIDER_THAN_VIEWPORT)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390, wide
    box = narrow.locator(".preview-scroll")
    assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
    screenshot(narrow, "sources-390")
    narrow.goto(url + "/sources/jobs/pas_policies/")
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390
    assert "succeeded" in narrow.locator("[data-job-runs]").inner_text()
    assert narrow.js_errors == []


def test_without_a_websocket_the_job_page_polls_a_run_to_its_end(signed_in_page, asgi_server, worker, pg_source):
    from apps.connectors.services.connections import connection_discover
    from apps.ingestion.services.jobs import job_create
    from apps.ingestion.tests.helpers import MAPPING, connection_make, policies_table, policy_entity

    member = MembershipFactory(role="analyst", is_default=True, client__code="acme_poll")
    policy_entity(member.client_id)
    policies_table(pg_source, 4)
    connection_make(member.client_id, pg_source)
    connection_discover(client_id=member.client_id, code="policy_db")
    fields = {"code": "policies", "connection": "policy_db", "object": "POLICIES", "entity": "policy_snapshot",
              "mapping": MAPPING}  # fmt: skip
    job_create(client_id=member.client_id, user=member.user, fields=fields)
    url = asgi_server["url"]
    page = signed_in_page(url, member.user, path="/sources/")
    # Every socket to /ws/ is closed at once: the page must fall back to polling.
    page.route_web_socket(re.compile(r"/ws/"), lambda socket: socket.close())
    page.goto(url + "/sources/jobs/policies/")

    worker.control.cancel_consumer("celery", reply=True, timeout=5, **session_worker_only())
    page.get_by_role("button", name="Run now").click()
    page.locator('tr[data-status="queued"]').wait_for()
    with page.expect_request(lambda r: r.url.endswith("/sources/jobs/policies/runs/") and r.headers.get("hx-request")):
        pass  # a poll while the run is queued: no socket follows it
    assert page.locator("[data-job-runs] [data-live-indicator]").is_hidden()
    worker.control.add_consumer("celery", reply=True, timeout=5, **session_worker_only())
    done = page.locator('tr[data-status="succeeded"]')
    done.wait_for(timeout=90_000)
    expect(done.locator("[data-rows-written]")).to_have_text("4")
