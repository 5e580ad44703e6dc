"""Runs outside the happy path, and the demo data `make run` loads."""

from datetime import date

import pytest
from django.core.management import call_command

from apps.simulation import services
from apps.simulation.generators.base import period_next
from apps.simulation.models import SimulationRun

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

WEEKS = {"period": "week", "lobs": {"Health": {"start": 100, "end": 95, "new": 5}}}


def _run(analyst, start=date(2026, 3, 2), end=date(2026, 3, 16)) -> SimulationRun:
    return services.run_create(
        client_id=analyst.client_id, scenario="health_retention", start=start, end=end, params=WEEKS, user=analyst.user
    )


def test_a_run_whose_days_were_written_meanwhile_fails_naming_the_entity(analyst):
    first, second = _run(analyst), _run(analyst)  # both checked before either ran
    assert services.run_execute(run_id=first.pk).status == "succeeded"
    failed = services.run_execute(run_id=second.pk)
    assert failed.status == "failed"
    assert "'policy_snapshot' already holds rows" in failed.error
    assert (failed.rows_written, failed.progress) == (0, 0.0)
    assert failed.finished_at is not None


def test_a_run_is_executed_once_and_an_interrupted_one_is_marked_failed(analyst):
    run = _run(analyst)
    assert services.run_execute(run_id=run.pk).status == "succeeded"
    # Delivered again (say a worker lost the ack): nothing runs twice.
    again = services.run_execute(run_id=run.pk)
    assert (again.status, again.rows_written) == ("succeeded", run.__class__.objects.get(pk=run.pk).rows_written)

    interrupted = _run(analyst, start=date(2026, 4, 6), end=date(2026, 4, 13))
    SimulationRun.objects.filter(pk=interrupted.pk).update(status="running", rows_written=1234)
    marked = services.run_execute(run_id=interrupted.pk)
    assert marked.status == "failed"
    assert marked.error == "Interrupted: the worker stopped after 1234 rows were written."
    assert services.run_execute(run_id=999_999) is None


def test_demo_range_is_whole_months_up_to_today():
    assert services.demo_range(date(2026, 4, 20)) == (date(2026, 1, 1), date(2026, 4, 21))
    assert services.demo_range(date(2026, 1, 1)) == (date(2025, 10, 1), date(2026, 1, 2))


def test_make_runs_demo_bootstrap_loads_the_demo_once(api_client, capsys, settings, demo_source_database):
    from django.contrib.auth import get_user_model

    settings.AE_ADMIN_PASSWORD = "demo-pass"
    call_command("demo_bootstrap")
    out = capsys.readouterr().out
    assert "demo data health_retention: loaded" in out
    assert "demo data sales_growth: loaded" in out
    # ... and the demo's data source: a MariaDB policy system, its connection and a daily job (sources_demo).
    assert f"demo source: MariaDB database '{demo_source_database}'" in out and "made: connection, job" in out, out
    runs = list(SimulationRun.objects.filter(client__code="demo").order_by("id"))
    assert [(r.scenario, r.status) for r in runs] == [("health_retention", "succeeded"), ("sales_growth", "succeeded")]
    assert runs[0].created_by.username == "admin"
    assert 80_000 < runs[0].rows_written < 130_000  # 1,000 policies, daily, three to four months
    assert 2_000 < runs[1].rows_written < 6_000  # a few thousand orders

    # The demo's first month: Start 1000, End 950, New 50 -> 0.90, by line of business too.
    api_client.force_authenticate(get_user_model().objects.get(username="admin"))
    start = runs[0].start
    query = {"start": start.isoformat(), "end": period_next(start, "month").isoformat(), "granularity": "month"}
    body = api_client.get("/api/v1/metrics/retention_rate", {**query, "group_by": "lob"}).json()
    assert [(p["dims"]["lob"], p["value"]) for p in body["series"]] == [("Health", 0.9), ("Motor", 0.9)]
    assert api_client.get("/api/v1/metrics/end_count", query).json()["series"][0]["value"] == 950

    call_command("demo_bootstrap")
    out = capsys.readouterr().out
    assert "demo data health_retention: skipped" in out and "demo data sales_growth: skipped" in out
    assert "rows already there" in out and "made: nothing new" in out, out
    assert SimulationRun.objects.filter(client__code="demo").count() == 2

    call_command("demo_bootstrap", "--no-data")
    assert "demo data" not in capsys.readouterr().out


def test_runs_show_read_only_in_the_admin(client, analyst):
    from apps.core.tests.factories import UserFactory

    run = _run(analyst)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/simulation/simulationrun/")
    assert listing.status_code == 200
    assert b"health_retention" in listing.content
    page = client.get(f"/admin/simulation/simulationrun/{run.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # nothing to change
