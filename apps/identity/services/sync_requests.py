"""An on-demand directory sync: a queued run, handed to the worker once the
run is committed (the API and the access console both start runs here)."""

from apps.core.transactions import after_commit
from apps.identity.models import DirectorySyncRun
from apps.identity.services.directory_sync import directory_sync_run_create
from apps.identity.tasks import directory_sync_run_task


def directory_sync_request(*, client_id: int, provider_id: int, requested_by=None) -> DirectorySyncRun:
    """Queue a run of the client's provider and enqueue its task after
    commit. 400 naming `provider` when it is not an enabled provider of the
    client (directory_sync_run_create)."""
    run = directory_sync_run_create(client_id=client_id, provider_id=provider_id, requested_by=requested_by)
    after_commit(directory_sync_run_task.delay, run.pk)
    return run
