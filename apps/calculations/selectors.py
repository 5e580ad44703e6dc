"""The calculation engine's reads."""

from apps.calculations.compiler import metric_reads
from apps.calculations.history import dims_key, history_list, history_recent
from apps.calculations.types import AccessContext, MetricReadSet
from apps.governance.selectors import row_access
from apps.ontology.catalog import catalog_get

__all__ = ["access_context_for", "dims_key", "history_list", "history_recent", "metric_read_sets"]


def access_context_for(*, client_id: int, user_id: int | None, role: str | None = None) -> AccessContext:
    """The access context of a caller: the one place a request's row-level
    restrictions are read (governance's row policies for the user's role,
    directory groups and id). Every read path (metrics API, ad-hoc query,
    history, dashboards, KPI pages, benchmarks, WebSocket subscriptions)
    builds it once per request and passes it down; `user_id=None` is the
    system (live recalculation, the period publisher): unrestricted."""
    return AccessContext(client_id=client_id, rows=row_access(client_id=client_id, user_id=user_id, role=role))


def metric_read_sets(*, client_id: int) -> dict[str, MetricReadSet]:
    """Every metric of the client with the entities its statement reads: the
    list the result cache invalidates by and live recalculation follows."""
    catalog = catalog_get(client_id=client_id)
    return {code: metric_reads(catalog=catalog, code=code) for code in catalog.metrics}
