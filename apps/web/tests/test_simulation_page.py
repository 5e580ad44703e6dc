"""The simulation controller's pages and partials (`/simulation/`): the
scenario parameter form per scenario, starting a run through the simulation
service (impossible parameters shown next to the input they name, nothing
queued), the recent runs, one run's progress panel, and tenancy."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.core.tests.factories import MembershipFactory
from apps.simulation import selectors
from apps.simulation.models import SimulationRun

pytestmark = pytest.mark.django_db(databases=["default", "readonly"])

PAGE = "/simulation/"
HX = {"HTTP_HX_REQUEST": "true"}
VALID = {
    "scenario": "health_retention",
    "start": "2026-01-01",
    "end": "2026-04-01",
    "p-period": "month",
    "p-lobs-rows": "2",
    "p-lobs-0-key": "Health",
    "p-lobs-0-start": "1000",
    "p-lobs-0-end": "950",
    "p-lobs-0-new": "50",
    "p-lobs-1-key": "",
    "p-seed": "42",
}


@pytest.fixture
def member(db):
    return MembershipFactory(is_default=True, role="analyst", client__name="Acme Health")


@pytest.fixture
def console(client, member):
    client.force_login(member.user)
    return client


def _run(member, **fields) -> SimulationRun:
    values = {"scenario": "health_retention", "start": date(2026, 1, 1), "end": date(2026, 4, 1)}
    return SimulationRun.objects.create(client_id=member.client_id, **{**values, **fields})


def _field_error(html: str, field: str) -> str:
    """The text of the inline error naming `field` (data-field="...")."""
    match = re.search(rf'<p class="field-error"[^>]*data-field="{re.escape(field)}"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no inline error for {field}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def _runs(member) -> list:
    return list(selectors.run_list(client_id=member.client_id))


# -- the page ------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, member):
    run = _run(member)
    for url in (PAGE, f"/simulation/runs/{run.pk}/", "/simulation/runs/", "/simulation/params/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")
    assert client.post(PAGE, VALID).status_code == 302
    assert _runs(member) == [run]


def test_the_page_offers_every_scenario_with_health_retention_parameters_and_an_empty_run_list(console):
    response = console.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "<h1>Simulation</h1>" in html
    for name in ("Health Retention", "Sales Growth", "Churn Spike", "Seasonal Peak"):
        assert f">{name}</label>" in html
    assert re.search(r'value="health_retention"[^>]*\bchecked', html)
    # The parameters come from the scenario's model: defaults, labels and help.
    assert "Health Retention parameters" in html
    assert 'name="p-lobs-0-key" value="Health"' in html
    assert 'name="p-lobs-0-start" value="600"' in html
    assert 'name="p-lobs-1-key" value="Motor"' in html
    assert '<option value="month" selected>month</option>' in html
    assert "the period the counts are for" in html.lower()
    assert 'type="date" id="id_start"' in html
    assert "No runs yet." in html
    assert "Start run</button>" in html


@pytest.mark.parametrize(
    ("scenario", "name", "inputs"),
    [
        (
            "health_retention",
            "Health Retention",
            ["p-period", "p-lobs-0-start", "p-lobs-0-end", "p-lobs-0-new", "p-seed"],
        ),
        ("churn_spike", "Churn Spike", ["p-spike_start", "p-spike_end", "p-spike_churn", "p-lobs-0-new"]),
        ("sales_growth", "Sales Growth", ["p-regions-0-people", "p-regions-0-orders_per_day", "p-growth", "p-noise"]),
        ("seasonal_peak", "Seasonal Peak", ["p-peak_month", "p-peak_factor", "p-peak_width_days", "p-regions-2-key"]),
    ],
)
def test_the_parameter_partial_shows_each_scenarios_own_parameters(console, scenario, name, inputs):
    response = console.get("/simulation/params/", {"scenario": scenario}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the fragment only
    assert f"<legend>{name} parameters</legend>" in html
    for input_name in inputs:
        assert f'name="{input_name}"' in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_scenario_defaults_and_help_text_fill_the_inputs(console):
    html = console.get("/simulation/params/", {"scenario": "seasonal_peak"}, **HX).content.decode()
    assert re.search(r'id="p-peak_factor" name="p-peak_factor" value="3"', html)
    assert "order volume at the peak, times usual" in html.lower()
    assert 'name="p-regions-0-key" value="EU"' in html
    # A parameter chosen from the range when left empty says so.
    assert re.search(r'id="p-peak_month" name="p-peak_month" value="" placeholder="automatic"', html)


def test_the_parameter_route_without_htmx_is_the_page_with_that_scenario_picked(console):
    html = console.get("/simulation/params/", {"scenario": "sales_growth"}).content.decode()
    assert "<html" in html
    assert re.search(r'value="sales_growth"[^>]*\bchecked', html)
    assert "Sales Growth parameters" in html


# -- starting a run -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"p-lobs-0-end": "1100"}, "params.lobs.Health.end", "End (1100) cannot exceed Start + New (1000 + 50)"),
        ({"p-lobs-0-end": "40"}, "params.lobs.Health.end", "End (40) cannot be less than New (50)"),
        ({"p-lobs-0-start": "-5"}, "params.lobs.Health.start", "greater than or equal to 0"),
        ({"p-seed": "lucky"}, "params.seed", "valid integer"),
        ({"end": "2025-12-01"}, "end", "end 2025-12-01 is not after start 2026-01-01"),
        ({"start": "2026-01-15"}, "start", "not the first day of a month"),
        ({"p-lobs-0-key": "", "p-lobs-1-key": ""}, "params.lobs", "at least 1 item"),
    ],
)
def test_impossible_parameters_are_shown_next_to_their_input_and_nothing_is_queued(
    console, member, django_capture_on_commit_callbacks, change, field, words
):
    data = {**VALID, **change}
    if "p-lobs-0-key" in change:  # an emptied table: its values go too
        data.update({"p-lobs-0-start": "", "p-lobs-0-end": "", "p-lobs-0-new": ""})
    with django_capture_on_commit_callbacks() as callbacks:
        response = console.post(PAGE, data, **HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "<html" not in html and 'id="sim-form"' in html  # the form, swapped in place
    assert words in _field_error(html, field)
    if field != "params.lobs":  # the input at fault is marked (a whole table has none)
        assert 'aria-invalid="true"' in html
    # What was typed is kept.
    for name, value in change.items():
        assert f'name="{name}" value="{value}"' in html or f'value="{value}"' in html
    assert _runs(member) == []
    assert callbacks == []


def test_without_htmx_an_impossible_run_answers_the_whole_page_with_the_error(console, member):
    response = console.post(PAGE, {**VALID, "p-lobs-0-end": "1100"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "<html" in html and "Recent runs" in html
    assert "cannot exceed Start + New" in _field_error(html, "params.lobs.Health.end")
    assert _runs(member) == []


def test_a_row_with_values_but_no_name_is_refused_inline(console, member):
    data = {**VALID, "p-lobs-1-start": "10", "p-lobs-1-end": "10", "p-lobs-1-new": "1"}
    response = console.post(PAGE, data, **HX)
    assert response.status_code == 422
    assert "Name this line of business" in response.content.decode()
    assert _runs(member) == []


def test_a_valid_start_creates_a_queued_run_through_the_service_and_opens_its_page(
    console, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = console.post(PAGE, VALID, **HX)
    assert response.status_code == 200
    [run] = _runs(member)
    assert response["HX-Redirect"] == f"/simulation/runs/{run.pk}/"
    assert (run.status, run.scenario, run.start, run.end) == (
        "queued",
        "health_retention",
        date(2026, 1, 1),
        date(2026, 4, 1),
    )
    # Validated with defaults filled in, as the API stores them.
    assert run.params["lobs"] == {"Health": [{"start": 1000, "end": 950, "new": 50}]}
    assert run.params["seed"] == 42 and run.params["period"] == "month"
    assert run.created_by == member.user
    assert len(callbacks) == 1  # the Celery task, enqueued after commit

    page = console.get(response["HX-Redirect"]).content.decode()
    assert "Queued" in page and 'aria-valuenow="0"' in page
    assert f'data-channel="simulation.run_{run.pk}"' in page


def test_without_htmx_a_valid_start_redirects_to_the_run(console, member):
    response = console.post(PAGE, {**VALID, "scenario": "sales_growth"})
    [run] = _runs(member)
    assert response.status_code == 302 and response.url == f"/simulation/runs/{run.pk}/"
    assert run.params["regions"]["EU"]["people"] == 4  # every parameter defaulted


def test_data_already_on_those_days_is_shown_on_the_range(console, member):
    from apps.simulation import services

    run = services.run_create(
        client_id=member.client_id,
        scenario="health_retention",
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
        params={"lobs": {"Health": {"start": 20, "end": 19, "new": 1}}},
    )
    services.run_execute(run_id=run.pk)
    response = console.post(PAGE, VALID, **HX)
    assert response.status_code == 422
    assert "already holds rows" in _field_error(response.content.decode(), "start")
    assert len(_runs(member)) == 1


def test_viewers_follow_runs_but_cannot_start_them(client, member):
    viewer = MembershipFactory(client=member.client, role="viewer", is_default=True)
    client.force_login(viewer.user)
    html = client.get(PAGE).content.decode()
    assert "may follow runs but not start them" in html
    assert re.search(r'<button type="submit" class="primary" disabled>', html)
    assert client.post(PAGE, VALID, **HX).status_code == 403
    assert _runs(member) == []


# -- runs -----------------------------------------------------------------------------------


def test_the_runs_partial_lists_the_clients_runs_newest_first(console, member):
    started = timezone.now() - timedelta(seconds=65)
    done = _run(member, status="succeeded", progress=1.0, rows_written=84845, rows_planned=84845,
                started_at=started, finished_at=started + timedelta(seconds=65))  # fmt: skip
    running = _run(member, scenario="sales_growth", status="running", progress=0.4, started_at=timezone.now())
    other = _run(MembershipFactory(is_default=True))

    response = console.get("/simulation/runs/", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "No runs yet." not in html
    assert html.index(f'data-run-id="{running.pk}"') < html.index(f'data-run-id="{done.pk}"')
    assert f'data-run-id="{other.pk}"' not in html
    assert "84,845" in html and "1 min 5 s" in html and "Sales Growth" in html and "40%" in html
    assert "Succeeded" in html and "Running" in html

    assert "<html" in console.get("/simulation/runs/").content.decode()  # the page without HTMX


def test_a_run_panel_shows_progress_accessibly_and_polls_only_while_active(console, member):
    run = _run(member, status="running", progress=0.471, rows_written=40000, rows_planned=84845,
               started_at=timezone.now())  # fmt: skip
    response = console.get(f"/simulation/runs/{run.pk}/", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card sim-run-panel')
    assert re.search(r'<progress [^>]*max="100" value="47"[^>]*aria-valuenow="47"', html)
    assert 'role="status" aria-live="polite"' in html
    assert "Generating rows · 40,000 of 84,845 rows written" in html
    assert 'hx-trigger="every 2s" data-poll-unless-live' in html

    full = console.get(f"/simulation/runs/{run.pk}/").content.decode()
    assert "<html" in full and "Simulation run #" in full and "Parameters" in full


def test_a_finished_run_links_to_the_dashboard_on_its_metric(console, member):
    summary = {
        "ontology": {
            "created": ["entity policy_snapshot", "metric start_count", "metric retention_rate"],
            "reused": [],
        },
        "rows": {"policy_snapshot": 1234},
        "expected": {"counts": [{"period": "2026-01-01", "lob": "Health", "start": 1000, "end": 950, "new": 50,
                                 "retention_rate": 0.9}]},
    }  # fmt: skip
    run = _run(member, status="succeeded", progress=1.0, rows_written=1234, rows_planned=1234, summary=summary)
    html = console.get(f"/simulation/runs/{run.pk}/", **HX).content.decode()
    assert 'href="/?metric=retention_rate"' in html and "Open the dashboard" in html
    assert 'aria-valuenow="100"' in html
    assert "hx-trigger" not in html  # nothing left to poll
    page = console.get(f"/simulation/runs/{run.pk}/").content.decode()
    assert "What the metrics should show" in page
    assert re.search(r"<td>2026-01-01</td><td>Health</td>.*?0\.9000", page, re.S)


def test_a_failed_run_shows_its_error(console, member):
    run = _run(member, status="failed", rows_written=20000, error="Interrupted: the worker stopped.")
    html = console.get(f"/simulation/runs/{run.pk}/", **HX).content.decode()
    assert "The run failed." in html and "Interrupted: the worker stopped." in html
    assert "20,000 rows written before it stopped are kept" in html


def test_a_run_queued_for_long_says_no_worker_has_picked_it_up(console, member):
    fresh = _run(member)
    html = console.get(f"/simulation/runs/{fresh.pk}/", **HX).content.decode()
    assert re.search(r"data-stale-note\s+hidden", html)  # not yet: a worker may be about to take it

    stale = _run(member)
    SimulationRun.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    html = console.get(f"/simulation/runs/{stale.pk}/", **HX).content.decode()
    assert re.search(r"data-stale-note\s*>", html)
    assert "No worker has picked this run up yet" in html
    assert "no worker yet" in console.get("/simulation/runs/", **HX).content.decode()


def test_another_clients_run_is_404(console):
    stranger = _run(MembershipFactory(is_default=True))
    assert console.get(f"/simulation/runs/{stranger.pk}/").status_code == 404
    assert console.get(f"/simulation/runs/{stranger.pk}/", **HX).status_code == 404
    assert console.get("/simulation/runs/999999/").status_code == 404


@pytest.mark.parametrize("scenario", ["health_retention", "churn_spike", "sales_growth", "seasonal_peak"])
def test_every_scenario_starts_with_the_values_its_form_shows(console, member, scenario):
    """The inputs as rendered (defaults, blank rows, "automatic" fields left
    empty) post back into parameters the service accepts."""
    html = console.get("/simulation/params/", {"scenario": scenario}, **HX).content.decode()
    data = {"scenario": scenario, "start": "2026-01-01", "end": "2026-04-01"}
    for tag in re.findall(r"<(?:input|select)[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        value = re.search(r'value="([^"]*)"', tag)
        data[name] = value.group(1) if value else ""
    for name, option in re.findall(
        r'<select id="[^"]+" name="([^"]+)".*?<option value="([^"]+)" selected>', html, re.S
    ):
        data[name] = option
    response = console.post(PAGE, data, **HX)
    assert response.status_code == 200, re.findall(
        r'class="(?:field-error|alert error)"[^>]*>(.*?)</p>', response.content.decode()
    )
    [run] = _runs(member)
    assert run.scenario == scenario and run.status == "queued"
