"""Metrics (KPIs): a formula over an entity's attributes or other metrics.
References are checked now; compiling formulas to SQL is the calculation
engine's work."""

from dataclasses import dataclass

from django.db import transaction

from apps.core.errors import AppError, Conflict
from apps.core.transactions import after_commit
from apps.ontology.formula import formula_parse, snake_case
from apps.ontology.identifiers import code_validate
from apps.ontology.models import EntityDefinition, MetricDefinition
from apps.ontology.services.hooks import metric_check_listeners, metric_deleted_listeners, metric_saved_listeners
from apps.ontology.types import MetricCandidate, MetricDeleted, MetricSaved
from apps.ontology.versioning import revision


@dataclass(frozen=True)
class MetricInput:
    code: str
    name: str
    formula: str
    entity: str | None = None
    unit: str = ""
    domain: str = ""
    mode: str = MetricDefinition.Mode.EXACT
    description: str = ""


@dataclass(frozen=True)
class ResolvedMetric:
    entity: EntityDefinition | None
    metrics: list[MetricDefinition]
    attributes: list[str]  # "entity.attribute"


def _metric_by_reference(client_id: int, name: str) -> MetricDefinition | None:
    codes = {name, snake_case(name)}
    return MetricDefinition.objects.filter(client_id=client_id, code__in=codes).first()


def _cycle_path(start: MetricDefinition, target_code: str) -> list[str] | None:
    """A path of metric codes from `start` to `target_code` through formula references."""
    stack = [(start, [start.code])]
    seen: set[int] = set()
    while stack:
        metric, path = stack.pop()
        if metric.code == target_code:
            return path
        if metric.pk in seen:
            continue
        seen.add(metric.pk)
        for dependency in metric.depends_on_metrics.all():
            stack.append((dependency, [*path, dependency.code]))
    return None


def _resolve(client_id: int, data: MetricInput) -> ResolvedMetric:
    code_validate(data.code, what="metric")
    if not data.name or not str(data.name).strip():
        raise AppError("The metric needs a name.", code="invalid_name")
    if data.mode not in MetricDefinition.Mode.values:
        raise AppError(
            f"Unknown mode {data.mode!r}; use 'exact' or 'approximate'.",
            code="invalid_mode",
            details={"mode": data.mode},
        )
    entity = None
    if data.entity:
        entity = EntityDefinition.objects.filter(client_id=client_id, code=data.entity).first()
        if entity is None:
            raise AppError(f"Unknown entity {data.entity!r}.", code="unknown_entity", details={"entity": data.entity})
    attribute_types = dict(entity.attributes.values_list("code", "data_type")) if entity else {}

    def refers_to_self(name: str) -> bool:
        return data.code in (name, snake_case(name))

    formula = formula_parse(
        data.formula,
        attribute_types=attribute_types,
        is_metric=lambda name: refers_to_self(name) or _metric_by_reference(client_id, name) is not None,
        entity=entity.code if entity else None,
    )
    metrics: list[MetricDefinition] = []
    for name in sorted(formula.metrics):
        if refers_to_self(name):
            raise AppError(f"Metric {data.code!r} refers to itself.", code="circular_reference")
        metric = _metric_by_reference(client_id, name)
        cycle = _cycle_path(metric, data.code)
        if cycle:
            raise AppError(
                "Circular reference between metrics: " + " -> ".join([data.code, *cycle]) + ".",
                code="circular_reference",
                details={"cycle": [data.code, *cycle]},
            )
        metrics.append(metric)
    candidate = MetricCandidate(
        client_id=client_id,
        code=data.code,
        formula=data.formula,
        entity=entity.code if entity else None,
        unit=data.unit,
        domain=data.domain,
        mode=data.mode,
    )
    for check in metric_check_listeners():
        check(candidate)
    attributes = [f"{entity.code}.{code}" for code in sorted(formula.attributes)]
    return ResolvedMetric(entity, metrics, attributes)


FORMULA_CHECK_CODE = "formula_check"  # the candidate's code when the one typed is not (yet) a valid code


def metric_formula_check(*, client_id: int, code: str, formula: str, entity: str | None = None) -> tuple[str, ...]:
    """A dry run of a metric's formula exactly as metric_create / metric_update
    resolve it (references, circular references, types, every registered
    metric check): raises the AppError they would; nothing is written.
    Returns the codes of the metrics the formula uses."""
    try:
        code_validate(code, what="metric")
    except AppError:
        code = FORMULA_CHECK_CODE
    resolved = _resolve(client_id, MetricInput(code=code, name=code, formula=formula, entity=entity))
    return tuple(sorted(metric.code for metric in resolved.metrics))


def _apply(metric: MetricDefinition, data: MetricInput, resolved: ResolvedMetric) -> None:
    metric.name = data.name
    metric.description = data.description
    metric.formula = data.formula
    metric.entity = resolved.entity
    metric.unit = data.unit
    metric.domain = data.domain
    metric.mode = data.mode
    metric.depends_on_attributes = resolved.attributes
    metric.save()
    metric.depends_on_metrics.set(resolved.metrics)
    saved = MetricSaved(
        client_id=metric.client_id, code=metric.code, entity=resolved.entity.code if resolved.entity else None
    )
    for listener in metric_saved_listeners():
        after_commit(listener, saved)


@transaction.atomic
def metric_create(*, client_id: int, data: MetricInput, user=None) -> MetricDefinition:
    if MetricDefinition.objects.filter(client_id=client_id, code=data.code).exists():
        raise Conflict(f"A metric with code {data.code!r} already exists.", code="duplicate_code")
    resolved = _resolve(client_id, data)
    with revision(user=user, comment=f"Created metric {data.code}"):
        metric = MetricDefinition(client_id=client_id, code=data.code)
        _apply(metric, data, resolved)
    return metric


@transaction.atomic
def metric_update(*, metric: MetricDefinition, data: MetricInput, user=None) -> MetricDefinition:
    if data.code != metric.code:
        raise AppError("A metric's code cannot change (formulas refer to it).", code="immutable_field")
    resolved = _resolve(metric.client_id, data)
    with revision(user=user, comment=f"Changed metric {metric.code}"):
        _apply(metric, data, resolved)
    return metric


@transaction.atomic
def metric_delete(*, metric: MetricDefinition, user=None) -> None:
    users = sorted(metric.used_by.values_list("code", flat=True))
    if users:
        raise Conflict(
            f"Metric {metric.code!r} is still used by {', '.join('metric ' + u for u in users)}.",
            code="in_use",
            details={"dependants": [f"metric {u}" for u in users]},
        )
    deleted = MetricDeleted(
        client_id=metric.client_id, code=metric.code, entity=metric.entity.code if metric.entity_id else None
    )
    with revision(user=user, comment=f"Deleted metric {metric.code}"):
        metric.delete()
    for listener in metric_deleted_listeners():
        after_commit(listener, deleted)
