"""The calculation engine's reads."""

from apps.calculations.compiler import metric_reads
from apps.calculations.history import dims_key, history_list, history_recent
from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.types import AccessContext, MetricQuery, MetricReadSet, RowPolicyPreview
from apps.core.errors import NotFound
from apps.governance.selectors import row_access, row_access_for
from apps.identity.selectors.principals import member_find
from apps.ontology.catalog import catalog_get

__all__ = [
    "access_context_for",
    "dims_key",
    "history_list",
    "history_recent",
    "metric_read_sets",
    "row_policy_preview",
]


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


def row_policy_preview(*, client_id: int, user: str | int, query: MetricQuery) -> RowPolicyPreview:
    """What member `user` (id or username) would see of `query`: the metric
    computed under their row policies (their role, directory groups and id;
    their placeholder values) next to the unrestricted value, neither
    recorded in history nor published. Not a member of the client: 404.
    The preview API and the access console both come here."""
    principal = member_find(client_id=client_id, user=user)
    if principal is None:
        raise NotFound(f"No member {user!r} in this client.", code="not_found")
    rows = row_access_for(client_id=client_id, principal=principal)
    restricted = CalculationOrchestrator(context=AccessContext(client_id=client_id, rows=rows))
    unrestricted = CalculationOrchestrator(context=AccessContext(client_id=client_id))
    return RowPolicyPreview(
        user_id=principal.user_id,
        username=principal.username,
        role=principal.role,
        restricted=rows.restricted,
        policies=rows.policies,
        restricted_result=restricted.calculate(query, persist=False),
        unrestricted_result=unrestricted.calculate(query, persist=False),
    )
