"""The calculation engine's reads."""

from apps.calculations.compiler import metric_reads
from apps.calculations.history import dims_key, history_list, history_recent
from apps.calculations.types import MetricReadSet
from apps.ontology.catalog import catalog_get

__all__ = ["dims_key", "history_list", "history_recent", "metric_read_sets"]


def metric_read_sets(*, client_id: int) -> dict[str, MetricReadSet]:
    """Every metric of the client with the entities its statement reads: the
    list the result cache invalidates by and live recalculation follows."""
    catalog = catalog_get(client_id=client_id)
    return {code: metric_reads(catalog=catalog, code=code) for code in catalog.metrics}
