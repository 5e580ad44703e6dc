"""What rollups hear from the ontology (registered on import, from
CalculationsConfig.ready()): loaded rows invalidate materialized buckets,
saved and deleted metrics reshape the entity's automatic rollups, and an
entity being deleted takes all its rollups and their tables with it."""

import logging

from django.conf import settings

from apps.calculations.rollups.services import rollup_invalidate, rollups_delete_for_entity
from apps.calculations.tasks import rollups_ensure
from apps.ontology.services.hooks import on_entity_deleting, on_metric_deleted, on_metric_saved, on_rows_loaded
from apps.ontology.types import EntityDeleting, MetricDeleted, MetricSaved, RowsLoaded

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


@on_metric_deleted
def rollups_ensure_on_metric_deleted(event: MetricDeleted) -> None:
    """The same reshaping as on save: what no remaining metric needs goes."""
    if event.entity is not None and settings.AE_ROLLUPS_AUTO:
        rollups_ensure.delay(event.client_id, event.entity)


@on_entity_deleting
def rollups_delete_on_entity_deleting(event: EntityDeleting) -> None:
    """Inside the entity's delete: its rollups (manual ones too) and their
    tables go in the same transaction as its table, whatever AE_ROLLUPS_AUTO."""
    deleted = rollups_delete_for_entity(client_id=event.client_id, entity=event.code)
    if deleted:
        logger.info(
            "rollups deleted with their entity",
            extra={"client_id": event.client_id, "entity": event.code, "rollups": deleted},
        )
