"""Metric definitions are compiled when they are defined: the ontology parses
and checks a formula; this hook (registered in AppConfig.ready) compiles it
against the client's ontology, so a formula the engine cannot compute (AT_START
on a reference entity, an aggregate without an entity, ...) is refused with
the same message the metrics API would give, before it is stored. Row
policies (apps.governance) are compiled at save the same way."""

from datetime import timedelta

from django.utils import timezone

from apps.calculations.compiler import metric_compile
from apps.calculations.compiler.policies import policy_compile_check
from apps.calculations.types import AccessContext, MetricQuery
from apps.governance.services import on_row_policy_check
from apps.governance.types import RowPolicyCandidate
from apps.ontology.catalog import Catalog, MetricSpec, catalog_load
from apps.ontology.services.hooks import on_metric_check
from apps.ontology.types import MetricCandidate


@on_metric_check
def metric_compiles(candidate: MetricCandidate) -> None:
    catalog = catalog_load(client_id=candidate.client_id)
    spec = MetricSpec(
        code=candidate.code,
        name=candidate.code,
        formula=candidate.formula,
        entity=candidate.entity,
        unit=candidate.unit,
        domain=candidate.domain,
        mode=candidate.mode,
        version="",
    )
    scoped = Catalog(catalog.client_id, catalog.entities, catalog.relationships, {**catalog.metrics, spec.code: spec})
    end = timezone.now()
    query = MetricQuery(metric=spec.code, start=end - timedelta(days=1), end=end)
    metric_compile(catalog=scoped, query=query, context=AccessContext(client_id=candidate.client_id))


@on_row_policy_check
def row_policy_compiles(candidate: RowPolicyCandidate) -> None:
    """A row policy's predicate resolves on its entity (paths as in group_by)
    and compares values of matching types, as every scan will compile it."""
    catalog = catalog_load(client_id=candidate.client_id)
    policy_compile_check(catalog=catalog, entity=candidate.entity, predicate=candidate.predicate)
