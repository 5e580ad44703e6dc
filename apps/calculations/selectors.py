"""The calculation engine's reads."""

from datetime import UTC, datetime, timedelta

from apps.calculations.compiler import metric_compile
from apps.calculations.history import dims_key, history_list, history_recent
from apps.calculations.types import AccessContext, MetricQuery, MetricReadSet
from apps.core.errors import AppError
from apps.ontology.catalog import catalog_get

__all__ = ["dims_key", "history_list", "history_recent", "metric_read_sets"]

# What a statement reads does not depend on its range: any one day compiles it.
_ANY_DAY = datetime(2000, 1, 3, tzinfo=UTC)


def metric_read_sets(*, client_id: int) -> dict[str, MetricReadSet]:
    """Every metric of the client with the entities its statement reads (its
    own, joined ones and those of the metrics it uses): the list the result
    cache invalidates by and live recalculation follows. A metric whose
    statement no longer compiles reads its own entity and says why."""
    catalog = catalog_get(client_id=client_id)
    context = AccessContext(client_id=client_id)
    found = {}
    for code, spec in catalog.metrics.items():
        try:
            query = MetricQuery(metric=code, start=_ANY_DAY, end=_ANY_DAY + timedelta(days=1))
            entities = tuple(metric_compile(catalog=catalog, query=query, context=context).entities)
            found[code] = MetricReadSet(code=code, entities=entities)
        except AppError as exc:
            found[code] = MetricReadSet(code=code, entities=(spec.entity,) if spec.entity else (), broken=exc.message)
    return found
