"""The ontology as the calculation engine reads it: one client's entities,
relationships and metrics as plain dataclasses (no models cross the app
boundary)."""

from dataclasses import dataclass, field

from django.conf import settings

from apps.core.errors import NotFound
from apps.ontology import models as m
from apps.ontology.formula import snake_case


@dataclass(frozen=True)
class AttributeSpec:
    code: str
    data_type: str
    nullable: bool = True
    enum_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntitySpec:
    code: str
    kind: str  # time_series | reference
    time_attribute: str
    schema: str
    table: str
    attributes: dict[str, AttributeSpec] = field(hash=False)

    @property
    def is_time_series(self) -> bool:
        return self.kind == m.EntityDefinition.Kind.TIME_SERIES


@dataclass(frozen=True)
class RelationshipSpec:
    code: str
    kind: str
    source_entity: str
    source_attribute: str
    target_entity: str
    target_attribute: str


@dataclass(frozen=True)
class MetricSpec:
    code: str
    name: str
    formula: str
    entity: str | None
    unit: str
    domain: str
    mode: str
    version: str  # changes whenever the definition does (cache keys carry it)


@dataclass
class Catalog:
    client_id: int
    entities: dict[str, EntitySpec]
    relationships: list[RelationshipSpec]
    metrics: dict[str, MetricSpec]

    def metric(self, code: str) -> MetricSpec:
        spec = self.metric_by_reference(code)
        if spec is None:
            raise NotFound(f"No metric with code {code!r}.", code="unknown_metric", details={"metric": code})
        return spec

    def metric_by_reference(self, name: str) -> MetricSpec | None:
        """A metric named by code or in CamelCase (`StartCount`)."""
        return self.metrics.get(name) or self.metrics.get(snake_case(name))

    def entity(self, code: str) -> EntitySpec:
        spec = self.entities.get(code)
        if spec is None:
            raise NotFound(f"No entity with code {code!r}.", code="unknown_entity", details={"entity": code})
        return spec


def catalog_load(*, client_id: int) -> Catalog:
    """Everything the engine needs about one client's ontology, in four queries."""
    entities = {}
    for entity in m.EntityDefinition.objects.filter(client_id=client_id).prefetch_related("attributes"):
        attributes = {
            a.code: AttributeSpec(a.code, a.data_type, a.nullable, tuple(a.enum_values or ()))
            for a in entity.attributes.all()
        }
        entities[entity.code] = EntitySpec(
            code=entity.code,
            kind=entity.kind,
            time_attribute=entity.time_attribute,
            schema=settings.ANALYTICS_SCHEMA,
            table=entity.table_name,
            attributes=attributes,
        )
    relationships = [
        RelationshipSpec(
            code=r.code,
            kind=r.kind,
            source_entity=r.source_entity.code,
            source_attribute=r.source_attribute,
            target_entity=r.target_entity.code,
            target_attribute=r.target_attribute,
        )
        for r in m.RelationshipDefinition.objects.filter(client_id=client_id)
        .select_related("source_entity", "target_entity")
        .order_by("code")
    ]
    metrics = {
        metric.code: MetricSpec(
            code=metric.code,
            name=metric.name,
            formula=metric.formula,
            entity=metric.entity.code if metric.entity else None,
            unit=metric.unit,
            domain=metric.domain,
            mode=metric.mode,
            version=metric.updated_at.isoformat(),
        )
        for metric in m.MetricDefinition.objects.filter(client_id=client_id).select_related("entity")
    }
    return Catalog(client_id=client_id, entities=entities, relationships=relationships, metrics=metrics)
