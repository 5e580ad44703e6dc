"""What rollups hear from the ontology (registered on import, from
CalculationsConfig.ready()): loaded rows invalidate materialized buckets,
saved metrics reshape the entity's automatic rollups."""

import logging

from django.conf import settings

from apps.calculations.rollups.services import rollup_invalidate
from apps.calculations.tasks import rollups_ensure
from apps.ontology.hooks import MetricSaved, RowsLoaded, on_metric_saved, on_rows_loaded

logger = logging.getLogger(__name__)


@on_rows_loaded
def rollups_invalidate_on_rows_loaded(event: RowsLoaded) -> None:
    """Runs after the load committed, in the loading process (every bulk
    load goes through ingestion_completed_publish, whichever process)."""
    if event.time_min is None:
        return  # no row with a time: nothing lands in a bucket
    recorded = rollup_invalidate(
        client_id=event.client_id,
        entity=event.entity,
        time_min=event.time_min,
        time_max=event.time_max or event.time_min,
    )
    if recorded:
        logger.info(
            "rollups invalidated by a late load",
            extra={"client_id": event.client_id, "entity": event.entity, "rollups": recorded},
        )


@on_metric_saved
def rollups_ensure_on_metric_saved(event: MetricSaved) -> None:
    if event.entity is not None and settings.AE_ROLLUPS_AUTO:
        rollups_ensure.delay(event.client_id, event.entity)
