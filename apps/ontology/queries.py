"""The ontology's own reads as querysets and model instances: its API views,
admin and services filter, paginate and write through them. Other apps read
the face (apps.ontology.selectors), which builds its dataclasses from these."""

from django.db.models import Model, QuerySet

from apps.core.errors import NotFound
from apps.ontology import models as m
from apps.ontology.types.definitions import EntityView, MetricView, RelationshipView


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


# What each dataclass of the face stands for.
VIEW_MODELS: dict[type, type[Model]] = {
    EntityView: m.EntityDefinition,
    RelationshipView: m.RelationshipDefinition,
    MetricView: m.MetricDefinition,
}


def definition_model(definition):
    """The model instance behind what a selector returned (services take
    either): a dataclass is loaded again by code within its client, so a
    definition deleted meanwhile is a 404."""
    model = VIEW_MODELS.get(type(definition))
    if model is None:
        return definition
    return definition_get(model, client_id=definition.client_id, code=definition.code)
