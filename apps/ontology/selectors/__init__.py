"""Reads of the ontology, always within one client. The version history is
versions.py; the ontology as a graph or diagram, uml.py."""

import re

from django.db.models import Model, QuerySet, Sum

from apps.core.errors import NotFound
from apps.ontology import models as m
from apps.ontology.types import MetricDependencies
from apps.ontology.types.formula import AGGREGATES

_AGGREGATE_CALL = re.compile(r"\b(" + "|".join(sorted(AGGREGATES, key=len, reverse=True)) + r")\s*\(", re.I)


def definition_get(model: type[Model], *, client_id: int, code: str) -> Model:
    """A client's definition by code; another client's answers 404 like a missing one."""
    obj = model.objects.filter(client_id=client_id, code=code).first()
    if obj is None:
        raise NotFound(f"No {model._meta.verbose_name} with code {code!r}.", details={"code": code})
    return obj


def entity_get(*, client_id: int, code: str) -> m.EntityDefinition:
    return definition_get(m.EntityDefinition, client_id=client_id, code=code)


def entity_list(*, client_id: int) -> QuerySet[m.EntityDefinition]:
    return m.EntityDefinition.objects.filter(client_id=client_id).prefetch_related("attributes").order_by("code")


def relationship_list(*, client_id: int) -> QuerySet[m.RelationshipDefinition]:
    return (
        m.RelationshipDefinition.objects.filter(client_id=client_id)
        .select_related("source_entity", "target_entity")
        .order_by("code")
    )


def metric_dependencies(*, client_id: int) -> dict[str, MetricDependencies]:
    """Every metric of the client with the metrics and attributes its formula
    refers to directly, by code (one query)."""
    uses: dict[str, list[str]] = {}
    through = m.MetricDefinition.depends_on_metrics.through
    for source, target in through.objects.filter(from_metricdefinition__client_id=client_id).values_list(
        "from_metricdefinition__code", "to_metricdefinition__code"
    ):
        uses.setdefault(source, []).append(target)
    return {
        code: MetricDependencies(
            code=code, metrics=tuple(sorted(uses.get(code, []))), attributes=tuple(attributes or ())
        )
        for code, attributes in m.MetricDefinition.objects.filter(client_id=client_id).values_list(
            "code", "depends_on_attributes"
        )
    }


def metric_list(*, client_id: int) -> QuerySet[m.MetricDefinition]:
    return (
        m.MetricDefinition.objects.filter(client_id=client_id)
        .select_related("entity")
        .prefetch_related("depends_on_metrics")
        .order_by("code")
    )


def drift_report_list(*, client_id: int) -> QuerySet[m.DriftReport]:
    """A client's consistency reports, newest first."""
    return m.DriftReport.objects.filter(client_id=client_id).order_by("-created_at", "-id")


def drift_report_get(*, client_id: int, report_id: int) -> m.DriftReport:
    report = m.DriftReport.objects.filter(client_id=client_id, pk=report_id).first()
    if report is None:
        raise NotFound(f"No drift report {report_id}.", details={"id": report_id})
    return report


def definitions_version(*, client_id: int) -> int:
    """A number that grows with every change to any of the client's
    definitions, counted by database triggers (see DefinitionChange). Each
    commit adds to it, so it names one state of the definitions: read it
    BEFORE the definitions, and what is cached under it is never older."""
    total = m.DefinitionChange.objects.filter(client_id=client_id).aggregate(total=Sum("changes"))["total"]
    return total or 0


def formula_aggregates(*, formula: str) -> list[str]:
    """The aggregate functions (upper case, sorted) a formula's text calls;
    none for a formula that only combines other metrics."""
    return sorted({name.upper() for name in _AGGREGATE_CALL.findall(formula)})
