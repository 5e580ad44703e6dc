"""Simulation runs: create one (checked now, so bad input is a 400 and a
clash with the client's definitions or data a 409 before anything is
queued), execute it (the Celery task, or the demo bootstrap in-process),
and report its progress on the run and over WebSocket.

A run writes in batches that commit one by one (so its progress is visible
and each batch announces its rows like any load). A run that fails part way
keeps the batches it wrote; its `rows_written` says how many."""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import AppError, Conflict
from apps.core.transactions import after_commit
from apps.ontology.selectors.client_config import feature_enabled
from apps.simulation.generators import scenario_build
from apps.simulation.generators.base import MAX_RANGE_DAYS, param_error
from apps.simulation.manager import ScenarioManager
from apps.simulation.models import SimulationRun
from apps.simulation.realtime import run_publish
from apps.simulation.selectors import whole_months_before

logger = logging.getLogger(__name__)

PUSH_STEP = 0.05  # progress pushed over WebSocket at most every 5%


def range_validate(*, start: date, end: date) -> None:
    if end <= start:
        raise param_error("end", f"The range must end after it starts: end {end} is not after start {start}.")
    if (end - start).days > MAX_RANGE_DAYS:
        raise param_error(
            "end",
            f"The range spans {(end - start).days} days; at most {MAX_RANGE_DAYS} per run.",
            code="range_too_long",
        )


@transaction.atomic
def run_create(
    *, client_id: int, scenario: str, start: date, end: date, params: dict[str, Any] | None = None, user=None
) -> SimulationRun:
    """A queued run, its parameters validated and defaults filled in. The
    caller enqueues it (after commit) or executes it."""
    range_validate(start=start, end=end)
    built = scenario_build(code=scenario, start=start, end=end, params=params)
    manager = ScenarioManager(client_id=client_id, user=user)
    manager.ontology_check(built)
    manager.data_check(built)
    return SimulationRun.objects.create(
        client_id=client_id,
        scenario=scenario,
        start=start,
        end=end,
        params=built.params_dump(),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def run_start(
    *, client_id: int, scenario: str, start: date, end: date, params: dict[str, Any] | None = None, user=None
) -> SimulationRun:
    """A queued run (see run_create), sent to the worker once the caller's
    transaction commits. The API and the console start runs through here. If
    the broker cannot take it then, the run stays queued (its page says no
    worker has picked it up) and the request that created it still succeeds.
    A client whose `simulations` switch is off is refused (409,
    docs/client-config.md)."""
    if not feature_enabled(client_id=client_id, name="simulations"):
        raise Conflict(
            "Simulations are switched off for this client (client configuration, feature 'simulations').",
            code="feature_disabled",
            details={"feature": "simulations"},
        )
    run = run_create(client_id=client_id, scenario=scenario, start=start, end=end, params=params, user=user)
    after_commit(_run_enqueue, run.pk)
    return run


def _run_enqueue(run_id: int) -> None:
    from apps.simulation.tasks import simulation_run_task  # the tasks module imports this one

    simulation_run_task.delay(run_id)


class _ProgressReporter:
    """Stores progress on the run after each batch; pushes it when it moved
    by PUSH_STEP since the last push."""

    def __init__(self, run: SimulationRun) -> None:
        self.run = run
        self.pushed = 0.0

    def __call__(self, written: int, planned: int) -> None:
        run = self.run
        run.rows_written, run.rows_planned = written, planned
        run.progress = min(written / planned, 1.0) if planned else 0.0
        SimulationRun.objects.filter(pk=run.pk).update(
            rows_written=written, rows_planned=planned, progress=run.progress, updated_at=timezone.now()
        )
        if run.progress - self.pushed >= PUSH_STEP:
            self.pushed = run.progress
            run_publish(run)


def _finish(run: SimulationRun, *, status: str, error: str = "", summary: dict | None = None) -> SimulationRun:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    # The reporter keeps the counts on `run` current.
    fields = ["status", "error", "finished_at", "rows_written", "rows_planned", "updated_at"]
    if status == SimulationRun.Status.SUCCEEDED:
        run.progress = 1.0
        fields.append("progress")
    if summary is not None:
        run.summary = summary
        fields.append("summary")
    run.save(update_fields=fields)
    run_publish(run)
    return run


def run_execute(*, run_id: int) -> SimulationRun | None:
    """Execute a queued run: definitions, then every batch of rows. Only a
    queued run starts; a run found `running` was interrupted (its worker
    died and the task came back), and is marked failed, not run twice."""
    now = timezone.now()
    claimed = SimulationRun.objects.filter(pk=run_id, status=SimulationRun.Status.QUEUED).update(
        status=SimulationRun.Status.RUNNING, started_at=now, updated_at=now
    )
    run = SimulationRun.objects.select_related("created_by").filter(pk=run_id).first()
    if run is None or not claimed:
        if run is not None and run.status == SimulationRun.Status.RUNNING:
            return _finish(
                run,
                status=SimulationRun.Status.FAILED,
                error=f"Interrupted: the worker stopped after {run.rows_written} rows were written.",
            )
        return run
    run_publish(run)
    try:
        scenario = scenario_build(code=run.scenario, start=run.start, end=run.end, params=run.params)
        manager = ScenarioManager(client_id=run.client_id, user=run.created_by)
        ontology, generated = manager.run(scenario, progress=_ProgressReporter(run))
    except AppError as exc:
        return _finish(run, status=SimulationRun.Status.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("simulation run failed", extra={"run": run.pk})
        _finish(run, status=SimulationRun.Status.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    summary = {
        "ontology": {"created": ontology.created, "reused": ontology.reused},
        "rows": generated.rows_by_entity,
        "loads": generated.loads,
        "expected": scenario.expected(),
    }
    run.rows_written, run.rows_planned = generated.rows_written, generated.rows_planned
    return _finish(run, status=SimulationRun.Status.SUCCEEDED, summary=summary)


# -- the demo `make run` loads ------------------------------------------------------------

DEMO_SCENARIOS: tuple[tuple[str, dict[str, Any]], ...] = (
    # 1,000 policies (S/E/N 1000/950/50 in the first month, retention 0.90).
    ("health_retention", {}),
    # About 35 orders a day over three regions: a few thousand orders.
    ("sales_growth", {}),
)


@dataclass(frozen=True)
class DemoOutcome:
    scenario: str
    status: str  # "loaded", "skipped" or "failed"
    detail: str
    run_id: int | None = None


def demo_range(today: date) -> tuple[date, date]:
    """From the first day of the month three months back to today (included):
    about 90 to 120 days, whole months for the monthly retention periods."""
    start, _ = whole_months_before(today)
    return start, today + timedelta(days=1)


def demo_data_load(*, client_id: int, user=None, today: date | None = None) -> list[DemoOutcome]:
    """The demo scenarios for one client, generated in-process through the
    same runs as the API's. Idempotent: a scenario whose entities already
    hold data is skipped, so running it again duplicates nothing."""
    start, end = demo_range(today or timezone.now().date())
    outcomes = []
    for code, params in DEMO_SCENARIOS:
        scenario = scenario_build(code=code, start=start, end=end, params=params)
        if ScenarioManager(client_id=client_id, user=user).entities_hold_data(scenario):
            outcomes.append(DemoOutcome(code, "skipped", "its entities already hold data"))
            continue
        try:
            run = run_create(client_id=client_id, scenario=code, start=start, end=end, params=params, user=user)
        except AppError as exc:
            outcomes.append(DemoOutcome(code, "skipped", exc.message))
            continue
        run = run_execute(run_id=run.pk)
        detail = f"{run.rows_written} rows, {start}..{end - timedelta(days=1)}" if not run.error else run.error
        outcomes.append(DemoOutcome(code, "loaded" if not run.error else "failed", detail, run.pk))
    return outcomes
