"""Background work of the calculation engine: rollup refreshes (on demand
and by schedule), automatic rollup generation, and live KPIs (recalculation
after loads, the period publisher, threshold alerts). Tasks take ids, call a
service, and keep their retry policy here."""

import logging

from celery import shared_task
from django.db import OperationalError
from redis.exceptions import RedisError

from apps.calculations.live import live_recalculate, task_moment
from apps.calculations.models import Rollup
from apps.calculations.realtime import live_periods_publish
from apps.calculations.rollups.auto import rollups_ensure_for_entity
from apps.calculations.rollups.services import RefreshRunning, rollup_refresh, rollups_claim_due
from apps.calculations.thresholds.delivery import threshold_alert_attempt
from apps.messaging.types import BusUnavailable

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
    """After a metric of `entity` was saved or deleted: shape its automatic
    rollups (dropping those no remaining metric needs)."""
    kept = rollups_ensure_for_entity(client_id=client_id, entity=entity)
    return {"client_id": client_id, "entity": entity, "rollups": [r.pk for r in kept]}


# --- live KPIs (docs/live.md) ----------------------------------------------------------


@shared_task(
    name="calculations.live_recalculate",
    acks_late=True,
    autoretry_for=(OperationalError, RedisError, BusUnavailable),
    retry_backoff=True,
    max_retries=5,
)
def live_recalculate_task(
    client_id: int, entity: str, time_min: str | None, time_max: str | None, cause: str = ""
) -> dict:
    """After a load (`cause`: the ingestion.completed event id): recalculate,
    record, publish and push the metrics reading `entity`. Safe to run twice:
    the history is replaced, and a repeated point is the same value again."""
    done = live_recalculate(
        client_id=client_id, entity=entity, time_min=task_moment(time_min), time_max=task_moment(time_max)
    )
    return {
        "cause": cause,
        "metrics": list(done.metrics),
        "points": len(done.points),
        "start": done.start.isoformat(),
        "end": done.end.isoformat(),
        "failed": list(done.failed),
    }


@shared_task(name="calculations.live_publish_periods")
def live_publish_periods() -> dict:
    """Every minute (beat): the period publisher's round."""
    done = live_periods_publish()
    return {"channels": done.channels, "computed": done.computed, "pushed": done.pushed, "failed": done.failed}


@shared_task(
    bind=True,
    name="calculations.threshold_alert_send",
    acks_late=True,
    max_retries=None,  # AE_THRESHOLD_ALERT_MAX_ATTEMPTS on the alert decides when to stop
    autoretry_for=(OperationalError, RedisError),  # our own database or Redis away: no attempt spent
    retry_backoff=True,
    retry_backoff_max=600,
)
def threshold_alert_send(self, alert_id: int) -> str:
    """Send a fired threshold alert to its Slack-style webhook; retried with
    backoff until sent or failed."""
    outcome = threshold_alert_attempt(alert_id=alert_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status
