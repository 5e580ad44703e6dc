"""The ontology as the calculation engine reads it: one client's entities,
relationships and metrics as plain dataclasses (no models cross the app
boundary)."""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from psycopg import sql

from apps.core.errors import NotFound
from apps.ontology import models as m
from apps.ontology.formula import formula_parse, snake_case
from apps.ontology.types.formula import Formula


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
    version: str = ""  # catalog_version() when it was read (catalog_get); shared instances are read-only

    def metric(self, code: str) -> MetricSpec:
        spec = self.metric_by_reference(code)
        if spec is None:
            raise NotFound(f"No metric with code {code!r}.", code="unknown_metric", details={"metric": code})
        return spec

    def metric_by_reference(self, name: str) -> MetricSpec | None:
        """A metric named by code or in CamelCase (`StartCount`)."""
        return self.metrics.get(name) or self.metrics.get(snake_case(name))

    def metric_formula(self, spec: MetricSpec, *, typed: bool = False) -> Formula:
        """The parsed tree of a metric's formula read in this catalog: its names
        are the attributes of the metric's entity or other metrics (by
        reference). `typed` also type-checks it against the attributes' data
        types, as defining the metric does. Raises AppError as the parser does."""
        entity = self.entities.get(spec.entity) if spec.entity else None
        attributes = entity.attributes if entity else {}
        entity_code = entity.code if entity else None

        def is_metric(name: str) -> bool:
            return self.metric_by_reference(name) is not None

        if typed:
            types = {code: attribute.data_type for code, attribute in attributes.items()}
            return formula_parse(spec.formula, attribute_types=types, is_metric=is_metric, entity=entity_code)
        return formula_parse(spec.formula, attributes=set(attributes), is_metric=is_metric, entity=entity_code)

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


def _version_sql() -> sql.Composed:
    parts = []
    for model, where in (
        (m.EntityDefinition, "t.client_id = %(client)s"),
        (m.AttributeDefinition, "t.entity_id IN (SELECT id FROM {entities} WHERE client_id = %(client)s)"),
        (m.RelationshipDefinition, "t.client_id = %(client)s"),
        (m.MetricDefinition, "t.client_id = %(client)s"),
    ):
        parts.append(
            sql.SQL("(SELECT count(*) || '@' || coalesce(max(t.updated_at)::text, '-') FROM {} AS t WHERE {})").format(
                sql.Identifier(model._meta.db_table),
                sql.SQL(where).format(entities=sql.Identifier(m.EntityDefinition._meta.db_table)),
            )
        )
    return sql.SQL("SELECT ") + sql.SQL(" || '|' || ").join(parts)


def catalog_version(*, client_id: int) -> str:
    """A fingerprint of one client's ontology that changes with any definition
    (created, changed or deleted): one cheap statement, so a cached Catalog
    can be checked on every request."""
    with connection.cursor() as cursor:
        cursor.execute(_version_sql(), {"client": client_id})
        return cursor.fetchone()[0]


_catalogs: OrderedDict[tuple[int, str], Catalog] = OrderedDict()
_catalogs_lock = threading.Lock()
CATALOG_CACHE_SIZE = 128


def catalog_get(*, client_id: int) -> Catalog:
    """`catalog_load`, remembered per process while `catalog_version` stays the
    same (read-mostly: ontologies change rarely, metrics are read constantly)."""
    key = (client_id, catalog_version(client_id=client_id))
    with _catalogs_lock:
        catalog = _catalogs.get(key)
        if catalog is not None:
            _catalogs.move_to_end(key)
            return catalog
    catalog = catalog_load(client_id=client_id)
    catalog.version = key[1]
    with _catalogs_lock:
        _catalogs[key] = catalog
        while len(_catalogs) > CATALOG_CACHE_SIZE:
            _catalogs.popitem(last=False)
    return catalog
