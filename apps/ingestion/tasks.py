"""Background work of ingestion: a job's run (on demand or by beat) and the
sweep of runs whose worker died.

acks_late + reject_on_worker_lost (the project's defaults, kept on purpose
here): a run whose worker died is delivered again. It cannot load twice: the
runner holds the job's advisory lock for the whole run (a duplicate finds it
taken and leaves), the rows and the watermark commit in one transaction (a
dead worker committed nothing), and a redelivered run that finds its row
failed or succeeded does nothing."""

from celery import shared_task

from apps.ingestion.runner import job_run
from apps.ingestion.services.runs import runs_sweep


@shared_task(name="ingestion.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job_task(client_id: int, code: str, run_id: int | None = None) -> dict:
    run = job_run(client_id=client_id, code=code, run_id=run_id)
    if run is None:
        return {"job": code, "status": "skipped"}
    return {"job": code, "run": run.pk, "status": run.status}


@shared_task(name="ingestion.runs_sweep")
def runs_sweep_task() -> dict:
    return {"failed": runs_sweep()}
