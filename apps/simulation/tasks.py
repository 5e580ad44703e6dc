"""Background work of the demo data generator. Tasks take ids and call a
service.

No automatic retry: a run commits its rows batch by batch, so running it
again from the start would write some twice. A run whose worker died comes
back (acks_late, reject on worker lost) and is marked failed, not repeated."""

from celery import shared_task

from apps.simulation.services import run_execute


@shared_task(name="simulation.run", acks_late=True)
def simulation_run_task(run_id: int) -> dict:
    run = run_execute(run_id=run_id)
    if run is None:
        return {"run": run_id, "status": "gone"}
    return {"run": run_id, "status": run.status, "rows_written": run.rows_written}
