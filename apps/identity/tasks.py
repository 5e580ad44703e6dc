"""Background work of the identity app: directory sync runs. Tasks take ids
and call a service."""

from celery import shared_task

from apps.identity.services.directory_sync import directory_sync_run_execute, directory_sync_runs_schedule


@shared_task(name="identity.directory_sync_run", acks_late=True)
def directory_sync_run_task(run_id: int) -> str:
    """One directory sync run of one provider (queued by the API or the sweep)."""
    return directory_sync_run_execute(run_id=run_id).status


@shared_task(name="identity.directory_sync_all")
def directory_sync_all_task() -> dict:
    """Beat: a run for every enabled Azure AD provider of every active client
    that has none queued or running."""
    run_ids = directory_sync_runs_schedule()
    for run_id in run_ids:
        directory_sync_run_task.delay(run_id)
    return {"queued": run_ids}
