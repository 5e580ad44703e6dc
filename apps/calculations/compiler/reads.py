"""What a metric's statement reads, for the result cache and live
recalculation: the same compile that answers requests, so the two cannot
disagree about joins or the metrics a derived metric uses."""

from datetime import UTC, datetime, timedelta

from apps.calculations.compiler.statement import metric_compile
from apps.calculations.types import AccessContext, MetricQuery, MetricReadSet
from apps.core.errors import AppError
from apps.ontology.catalog import Catalog

# What a statement reads depends on the metric's definition only, never on the
# range or the grain: the compile that answers it binds this one day, and the
# statement is never run.
_READS_DAY = datetime(2000, 1, 3, tzinfo=UTC)


def metric_reads(*, catalog: Catalog, code: str) -> MetricReadSet:
    """The entities a metric's statement reads (its own, joined ones and those
    of the metrics it uses) and whether it has a time axis. A metric whose
    statement no longer compiles reads its own entity and says why."""
    query = MetricQuery(metric=code, start=_READS_DAY, end=_READS_DAY + timedelta(days=1))
    try:
        compiled = metric_compile(catalog=catalog, query=query, context=AccessContext(client_id=catalog.client_id))
    except AppError as exc:
        spec = catalog.metrics.get(code)
        entity = spec.entity if spec is not None else None
        return MetricReadSet(code=code, entities=(entity,) if entity else (), broken=exc.message)
    return MetricReadSet(code=code, entities=compiled.entities, has_time=compiled.has_time)
