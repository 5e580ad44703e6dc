"""Background work of the calculation engine: rollup refreshes (on demand
and by schedule) and automatic rollup generation. Tasks take ids, call a
service, and keep their retry policy here."""

import logging

from celery import shared_task
from django.db import OperationalError

from apps.calculations.models import Rollup
from apps.calculations.rollups.auto import rollups_ensure_for_entity
from apps.calculations.rollups.services import RefreshRunning, rollup_refresh, rollups_claim_due

logger = logging.getLogger(__name__)

REFRESH_EXPIRES_SECONDS = 10 * 60  # a refresh not started by then is due again anyway


@shared_task(
    name="calculations.rollup_refresh",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def rollup_refresh_task(rollup_id: int) -> dict:
    """Refresh one rollup (skipped when another refresh of it is running)."""
    rollup = Rollup.objects.filter(pk=rollup_id).first()
    if rollup is None:
        return {"rollup": rollup_id, "status": "gone"}
    result = rollup_refresh(rollup=rollup)
    return {
        "rollup": rollup_id,
        "status": "skipped" if result.skipped else "refreshed",
        "watermark": result.watermark.isoformat() if result.watermark else None,
        "rows": result.rows,
        "ranges": len(result.ranges),
        "invalidations": result.invalidations,
    }


@shared_task(name="calculations.rollups_refresh_due")
def rollups_refresh_due() -> dict:
    """Every minute (beat): enqueue a refresh of each rollup whose cron
    schedule is due."""
    claimed = rollups_claim_due()
    for rollup_id in claimed:
        rollup_refresh_task.apply_async((rollup_id,), expires=REFRESH_EXPIRES_SECONDS)
    return {"enqueued": claimed}


@shared_task(
    name="calculations.rollups_ensure",
    autoretry_for=(OperationalError, RefreshRunning),
    retry_backoff=True,
    max_retries=5,
)
def rollups_ensure(client_id: int, entity: str) -> dict:
    """After a metric of `entity` was saved: shape its automatic rollups."""
    kept = rollups_ensure_for_entity(client_id=client_id, entity=entity)
    return {"client_id": client_id, "entity": entity, "rollups": [r.pk for r in kept]}
