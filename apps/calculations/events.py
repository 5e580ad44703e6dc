"""Event handlers of the calculation engine.

- group `calculations`: a load drops the cached results it touched. Loads
  done in other processes (Celery workers, other web processes) reach this
  process's cache only through the bus; loads done here were already handled
  by the rows-loaded hook in cache.py, and invalidating twice is harmless.
- group `calculations.live`: a load recalculates the metrics reading the
  entity (live.py), in a Celery task.
- group `calculations.thresholds`: each `metric.calculated` point is checked
  against the client's threshold rules (thresholds/evaluation.py).
- group `calculations.config`: a change of the client's configuration tells
  the listeners of the `metric.<code>` channels of the KPIs it deactivated
  or reactivated (docs/client-config.md). What is read afterwards follows
  the configuration itself: live recalculation, the period publisher and
  the metrics API read it each time.
"""

import logging

from django.conf import settings

from apps.calculations.cache import results_invalidate
from apps.calculations.realtime import kpi_status_push
from apps.calculations.tasks import live_recalculate_task, threshold_alert_send
from apps.calculations.thresholds.evaluation import thresholds_evaluate
from apps.calculations.types import METRIC_CALCULATED, MetricCalculatedV1
from apps.core.selectors import client_id_for_code
from apps.core.transactions import after_commit
from apps.messaging.services import handler
from apps.messaging.types import Envelope
from apps.ontology.selectors.client_config import feature_enabled
from apps.ontology.types import INGESTION_COMPLETED, IngestionCompletedV1
from apps.ontology.types.client_config import CLIENT_CONFIG_CHANGED, ClientConfigChangedV1

logger = logging.getLogger(__name__)


def _client_id(envelope: Envelope) -> int | None:
    client_id = client_id_for_code(code=envelope.tenant) if envelope.tenant else None
    if client_id is None:
        logger.warning(
            "%s %s names no known client (tenant %r); ignored", envelope.type, envelope.event_id, envelope.tenant
        )
    return client_id


@handler(INGESTION_COMPLETED, group="calculations")
def ingestion_completed_invalidate(envelope: Envelope) -> None:
    """Drop the cached results the load touched. Idempotent by nature: a
    replayed event bumps a generation again and deletes nothing new."""
    payload = IngestionCompletedV1.model_validate(envelope.payload)
    client_id = _client_id(envelope)
    if client_id is None:
        return
    results_invalidate(client_id=client_id, entity=payload.entity, time_min=payload.time_min, time_max=payload.time_max)


@handler(INGESTION_COMPLETED, group="calculations.live")
def ingestion_completed_recalculate(envelope: Envelope) -> None:
    """Queue the recalculation of the metrics the load feeds. Queued at once,
    not after commit: the task reads nothing this transaction writes (the
    loaded rows committed before the event was published), and a failed
    enqueue then fails the handler, which the bus retries and dead-letters,
    instead of losing the recalculation silently. A duplicate (a retried
    handler) recomputes the same values."""
    if not settings.AE_LIVE_RECALCULATE:
        return
    payload = IngestionCompletedV1.model_validate(envelope.payload)
    client_id = _client_id(envelope)
    if client_id is None or not payload.inserted:
        return
    if not feature_enabled(client_id=client_id, name="live_recalculation"):  # the client's switch
        return
    live_recalculate_task.delay(
        client_id,
        payload.entity,
        payload.time_min.isoformat() if payload.time_min else None,
        payload.time_max.isoformat() if payload.time_max else None,
        str(envelope.event_id),
    )


@handler(METRIC_CALCULATED, group="calculations.thresholds")
def metric_calculated_thresholds(envelope: Envelope) -> None:
    """Fire the threshold rules the point breaches; the alerts are sent after commit."""
    if envelope.version != 1:
        logger.warning("metric.calculated version %s is not understood; ignored", envelope.version)
        return
    point = MetricCalculatedV1.model_validate(envelope.payload)
    client_id = _client_id(envelope)
    if client_id is None:
        return
    fired = thresholds_evaluate(
        client_id=client_id,
        event_id=envelope.event_id,
        metric=point.metric,
        value=point.value,
        dims=point.dims,
        bucket=point.bucket,
        unit=point.unit,
    )
    for alert_id in fired:
        # robust: the event is applied whatever happens here; a failed enqueue is logged and the alert stays pending.
        after_commit(threshold_alert_send.delay, alert_id)


@handler(CLIENT_CONFIG_CHANGED, group="calculations.config")
def client_config_changed_notify(envelope: Envelope) -> None:
    """Tell the dashboards listening to a KPI that it was deactivated or
    reactivated. A replayed event tells them again, which changes nothing."""
    if envelope.version != 1:
        logger.warning("client_config.changed version %s is not understood; ignored", envelope.version)
        return
    change = ClientConfigChangedV1.model_validate(envelope.payload)
    client_id = _client_id(envelope)
    if client_id is None:
        return
    kpi_status_push(client_id=client_id, codes=change.kpis_deactivated, status="deactivated")
    kpi_status_push(client_id=client_id, codes=change.kpis_reactivated, status="reactivated")
