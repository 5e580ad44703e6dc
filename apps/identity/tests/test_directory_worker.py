"""Directory sync through the real Celery worker: a run asked for over the
API runs in the worker, shows its progress while Graph keeps it busy, and
excludes a second run of the same provider from another process."""

import pytest

from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.core.tests.waiting import wait_until
from apps.identity.models import DirectorySyncRun, DirectoryUser, IdentityProvider
from apps.identity.tasks import directory_sync_all_task
from apps.identity.tests.conftest import provider_for, roles_seed, sync
from celery_app import app as celery


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_an_on_demand_run_goes_through_the_worker_and_excludes_a_concurrent_one(
    api_client, graph, celery_worker_process
):
    client = ClientFactory(code="contoso_worker")
    roles_seed(client)
    provider = provider_for(client, graph)
    api_client.force_authenticate(MembershipFactory(client=client, role="admin", is_default=True).user)
    graph.hold()  # Graph answers only when the test says so: the run stays in progress

    answer = api_client.post("/api/v1/directory/sync-runs/", {"provider": provider.pk}, format="json")
    assert answer.status_code == 202
    run_url = f"/api/v1/directory/sync-runs/{answer.json()['id']}/"
    logs = celery_worker_process.read_text
    wait_until(graph.waiting.is_set, what="the worker's run calling Graph", logs=logs)
    in_progress = api_client.get(run_url).json()
    assert in_progress["status"] == "running" and in_progress["phase"] == "users"

    # Meanwhile a second run of the same provider (another process) does nothing.
    second = sync(provider)
    assert second.status == "skipped"

    graph.release()
    done = wait_until(
        lambda: (body := api_client.get(run_url).json())["status"] in ("succeeded", "failed") and body,
        what="the worker's run finished",
        logs=logs,
    )
    assert done["status"] == "succeeded", done["error"]
    assert done["counts"]["users_upserted"] == 4
    assert DirectoryUser.objects.filter(provider=provider).count() == 4


@pytest.mark.django_db
def test_the_beat_sweep_queues_a_run_per_enabled_azure_provider(graph, settings):
    saved = {key: celery.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery.conf.update(task_always_eager=True, task_eager_propagates=True)
    try:
        client = ClientFactory(code="sweep")
        roles_seed(client)
        synced = provider_for(client, graph, name="Azure")
        disabled = provider_for(client, graph, name="Off", tenant="22222222-2222-4222-8222-222222222222")
        disabled.is_enabled = False
        disabled.save()
        development = provider_for(client, graph, name="Dev", tenant="33333333-3333-4333-8333-333333333333")
        development.kind = IdentityProvider.Kind.DEVELOPMENT
        development.save()
        inactive = ClientFactory(code="sweep_inactive", is_active=False)
        provider_for(inactive, graph, name="Gone", tenant="44444444-4444-4444-8444-444444444444")

        result = directory_sync_all_task.apply().get()
    finally:
        celery.conf.update(saved)

    (run,) = DirectorySyncRun.objects.all()
    assert result == {"queued": [run.pk]}
    assert run.provider == synced and run.trigger == "schedule" and run.status == "succeeded", run.error


def test_beat_sweeps_on_the_configured_interval():
    from datetime import timedelta

    from celery_app.schedule import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["identity-directory-sync-all"]
    assert entry["task"] == directory_sync_all_task.name == "identity.directory_sync_all"
    assert entry["schedule"] == timedelta(minutes=settings_minutes())
    assert entry["options"]["expires"] == settings_minutes() * 60


def settings_minutes() -> int:
    from django.conf import settings

    return settings.AE_DIRECTORY_SYNC_INTERVAL_MINUTES
