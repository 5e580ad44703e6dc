"""Metric definitions are compiled when they are defined: the ontology parses
and checks a formula; this hook (registered in AppConfig.ready) compiles it
against the client's ontology, so a formula the engine cannot compute (AT_START
on a reference entity, an aggregate without an entity, ...) is refused with
the same message the metrics API would give, before it is stored."""

from datetime import timedelta

from django.utils import timezone

from apps.calculations.compiler import metric_compile
from apps.calculations.types import AccessContext, MetricQuery
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
