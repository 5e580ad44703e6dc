"""Create, change and delete entities together with their tables."""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from psycopg import sql

from apps.core.errors import AppError, Conflict
from apps.ontology.ddl import WIDENINGS, entity_ddl, entity_table_name
from apps.ontology.identifiers import MAX_ENTITY_CODE, code_validate
from apps.ontology.models import AttributeDefinition, DataType, EntityDefinition
from apps.ontology.queries import definition_model
from apps.ontology.services.hooks import entity_deleting_listeners
from apps.ontology.types import EntityDeleting
from apps.ontology.types.definitions import EntityView
from apps.ontology.versioning import revision
from apps.warehouse.services import (
    DEFAULT_CHUNK_INTERVALS,
    chunk_interval_ddl,
    chunk_interval_validate,
    column_add_ddl,
    column_nullable_ddl,
    column_type_ddl,
    ddl_execute,
    table_drop_ddl,
)
from apps.warehouse.services import ColumnSpec as _Column

TIME_TYPES = {DataType.DATE, DataType.TIMESTAMP}


@dataclass(frozen=True)
class AttributeInput:
    code: str
    data_type: str
    nullable: bool = True
    enum_values: tuple[str, ...] = ()
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class EntityInput:
    code: str
    name: str
    kind: str
    attributes: list[AttributeInput] = field(default_factory=list)
    time_attribute: str = ""
    description: str = ""
    chunk_interval: str | None = None  # None: the current one (at creation: chosen from the time attribute's type)


def _attributes_validate(data: EntityInput) -> None:
    if not data.attributes:
        raise AppError("An entity needs at least one attribute.", code="invalid_attributes")
    seen: set[str] = set()
    for attribute in data.attributes:
        code_validate(attribute.code, what="attribute")
        if attribute.code in seen:
            raise AppError(
                f"Attribute {attribute.code!r} appears twice.",
                code="duplicate_code",
                details={"attribute": attribute.code},
            )
        seen.add(attribute.code)
        if attribute.data_type not in DataType.values:
            raise AppError(
                f"Attribute {attribute.code!r} has unknown data type {attribute.data_type!r}; "
                f"use one of {', '.join(DataType.values)}.",
                code="invalid_data_type",
                details={"attribute": attribute.code, "data_type": attribute.data_type},
            )
        if attribute.enum_values:
            if attribute.data_type != DataType.STRING:
                raise AppError(
                    f"Attribute {attribute.code!r}: enum values are only for string attributes.",
                    code="invalid_enum",
                    details={"attribute": attribute.code},
                )
            values = list(attribute.enum_values)
            if any(not isinstance(v, str) or not v for v in values) or len(set(values)) != len(values):
                raise AppError(
                    f"Attribute {attribute.code!r}: enum values must be distinct, non-empty strings.",
                    code="invalid_enum",
                    details={"attribute": attribute.code},
                )


def _entity_validate(data: EntityInput) -> None:
    code_validate(data.code, what="entity", max_length=MAX_ENTITY_CODE)
    if not data.name or not str(data.name).strip():
        raise AppError("The entity needs a name.", code="invalid_name")
    if data.kind not in EntityDefinition.Kind.values:
        raise AppError(
            f"Unknown entity kind {data.kind!r}; use 'time_series' or 'reference'.",
            code="invalid_kind",
            details={"kind": data.kind},
        )
    _attributes_validate(data)
    by_code = {a.code: a for a in data.attributes}
    if data.kind == EntityDefinition.Kind.TIME_SERIES:
        if not data.time_attribute:
            raise AppError(
                "A time_series entity needs a time_attribute (a date or timestamp attribute).",
                code="time_attribute_required",
            )
        time_attr = by_code.get(data.time_attribute)
        if time_attr is None:
            raise AppError(
                f"The time_attribute {data.time_attribute!r} is not one of the entity's attributes.",
                code="invalid_time_attribute",
                details={"time_attribute": data.time_attribute},
            )
        if time_attr.data_type not in TIME_TYPES:
            raise AppError(
                f"The time_attribute {data.time_attribute!r} must be a date or timestamp, not {time_attr.data_type}.",
                code="invalid_time_attribute",
                details={"time_attribute": data.time_attribute},
            )
    elif data.time_attribute:
        raise AppError(
            "Only time_series entities have a time_attribute.",
            code="invalid_time_attribute",
            details={"time_attribute": data.time_attribute},
        )
    if data.chunk_interval and data.kind != EntityDefinition.Kind.TIME_SERIES:
        raise AppError(
            "Only time_series entities have a chunk_interval.",
            code="invalid_chunk_interval",
            details={"chunk_interval": data.chunk_interval},
        )


def _chunk_interval(data: EntityInput) -> str:
    """The validated chunk interval of a time series (the given one, else the
    default of its time attribute's type); empty for a reference entity."""
    if data.kind != EntityDefinition.Kind.TIME_SERIES:
        return ""
    time_type = next(a.data_type for a in data.attributes if a.code == data.time_attribute)
    return chunk_interval_validate(data.chunk_interval or DEFAULT_CHUNK_INTERVALS[time_type], time_type=time_type)


def _attribute_rows_save(entity: EntityDefinition, data: EntityInput) -> None:
    existing = {a.code: a for a in entity.attributes.all()}
    for position, attribute in enumerate(data.attributes):
        row = existing.pop(attribute.code, None) or AttributeDefinition(entity=entity, code=attribute.code)
        row.data_type = attribute.data_type
        row.nullable = attribute.nullable and attribute.code != data.time_attribute
        row.enum_values = list(attribute.enum_values)
        row.name = attribute.name or attribute.code.replace("_", " ").capitalize()
        row.description = attribute.description
        row.position = position
        row.save()
    for leftover in existing.values():
        leftover.delete()


def entity_schema_apply(statements) -> None:
    """Run DDL for the ontology, turning database refusals into API errors
    (409 when stored data forbids the change)."""
    try:
        ddl_execute(statements)
    except IntegrityError as exc:
        raise Conflict(f"The table's data does not allow this change: {exc}", code="schema_conflict") from exc
    except DatabaseError as exc:
        raise AppError(f"The table could not be changed: {exc}", code="schema_error") from exc


@transaction.atomic
def entity_create(*, client_id: int, data: EntityInput, user=None) -> EntityDefinition:
    """Define an entity and create its table (a hypertable for time series) in
    one transaction: both exist afterwards, or neither."""
    _entity_validate(data)
    if EntityDefinition.objects.filter(client_id=client_id, code=data.code).exists():
        raise Conflict(f"An entity with code {data.code!r} already exists.", code="duplicate_code")
    with revision(user=user, comment=f"Created entity {data.code}"):
        entity = EntityDefinition.objects.create(
            client_id=client_id,
            code=data.code,
            name=data.name,
            description=data.description,
            kind=data.kind,
            time_attribute=data.time_attribute,
            table_name=entity_table_name(client_id=client_id, code=data.code),
            chunk_interval=_chunk_interval(data),
        )
        _attribute_rows_save(entity, data)
    entity_schema_apply(entity_ddl(entity))
    return entity


def _attribute_dependants(entity: EntityDefinition, code: str) -> list[str]:
    from apps.ontology.models import MetricDefinition, RelationshipDefinition

    users = [
        f"relationship {r.code}"
        for r in RelationshipDefinition.objects.filter(source_entity=entity, source_attribute=code)
    ]
    users += [
        f"relationship {r.code}"
        for r in RelationshipDefinition.objects.filter(target_entity=entity, target_attribute=code)
    ]
    users += [
        f"metric {mt.code}"
        for mt in MetricDefinition.objects.filter(entity=entity)
        if f"{entity.code}.{code}" in mt.depends_on_attributes
    ]
    return users


@transaction.atomic
def entity_update(*, entity: EntityDefinition | EntityView, data: EntityInput, user=None) -> EntityDefinition:
    """Change an entity and alter its table to match, in one transaction. Safe
    changes only: new attributes, widening type changes, nullability; the
    code, kind and time attribute are fixed once the table exists. `entity`
    may be what apps.ontology.selectors returned."""
    entity = definition_model(entity)
    _entity_validate(data)
    if data.code != entity.code:
        raise AppError("An entity's code cannot change (it names the entity's table).", code="immutable_field")
    if data.kind != entity.kind:
        raise AppError("An entity's kind cannot change once its table exists.", code="immutable_field")
    if data.time_attribute != entity.time_attribute:
        raise AppError("An entity's time_attribute cannot change once its table exists.", code="immutable_field")

    old = {a.code: a for a in entity.attributes.all()}
    new = {a.code: a for a in data.attributes}
    statements = []
    for code in sorted(set(old) - set(new)):
        dependants = _attribute_dependants(entity, code)
        if dependants:
            raise Conflict(
                f"Attribute {code!r} is still used by {', '.join(dependants)}.",
                code="in_use",
                details={"attribute": code, "dependants": dependants},
            )
    schema, table = settings.ANALYTICS_SCHEMA, entity.table_name
    for attribute in data.attributes:
        before = old.get(attribute.code)
        if before is None:
            statements.append(
                column_add_ddl(schema=schema, table=table, column=_Column(attribute.code, attribute.data_type))
            )
            if not attribute.nullable:
                statements.append(
                    column_nullable_ddl(schema=schema, table=table, column=attribute.code, nullable=False)
                )
            continue
        if before.data_type != attribute.data_type:
            if (before.data_type, attribute.data_type) not in WIDENINGS:
                raise AppError(
                    f"Attribute {attribute.code!r} cannot change from {before.data_type} to {attribute.data_type}: "
                    "stored values could be lost. Add a new attribute instead.",
                    code="unsafe_type_change",
                    details={"attribute": attribute.code, "from": before.data_type, "to": attribute.data_type},
                )
            statements.append(
                column_type_ddl(schema=schema, table=table, column=attribute.code, data_type=attribute.data_type)
            )
        if before.nullable != attribute.nullable and attribute.code != entity.time_attribute:
            statements.append(
                column_nullable_ddl(schema=schema, table=table, column=attribute.code, nullable=attribute.nullable)
            )

    if data.chunk_interval is not None and data.chunk_interval != entity.chunk_interval:
        entity.chunk_interval = _chunk_interval(data)
        statements.append(chunk_interval_ddl(schema=schema, table=table, interval=entity.chunk_interval))

    with revision(user=user, comment=f"Changed entity {entity.code}"):
        entity.name = data.name
        entity.description = data.description
        entity.save()
        _attribute_rows_save(entity, data)
    entity_schema_apply([*entity_ddl(entity), *statements])
    return entity


def entity_dependants(entity: EntityDefinition) -> list[str]:
    from apps.ontology.models import MetricDefinition, RelationshipDefinition

    relationships = RelationshipDefinition.objects.filter(source_entity=entity) | RelationshipDefinition.objects.filter(
        target_entity=entity
    )
    return [f"relationship {r.code}" for r in relationships.distinct().order_by("code")] + [
        f"metric {mt.code}" for mt in MetricDefinition.objects.filter(entity=entity).order_by("code")
    ]


def _row_count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(settings.ANALYTICS_SCHEMA, table)))
        return cursor.fetchone()[0]


@transaction.atomic
def entity_delete(*, entity: EntityDefinition, drop_data: bool = False, user=None) -> None:
    """Delete an entity and its table. Refused while metrics or relationships
    use it, and while its table holds rows unless `drop_data` says so.
    Listeners of `on_entity_deleting` drop what was derived from it (rollups)
    in this same transaction: all of it goes, or none."""
    dependants = entity_dependants(entity)
    if dependants:
        raise Conflict(
            f"Entity {entity.code!r} is still used by {', '.join(dependants)}.",
            code="in_use",
            details={"dependants": dependants},
        )
    rows = _row_count(entity.table_name)
    if rows and not drop_data:
        raise Conflict(
            f"Entity {entity.code!r} has {rows} stored rows; delete with drop_data=true to drop them too.",
            code="has_data",
            details={"rows": rows},
        )
    deleting = EntityDeleting(client_id=entity.client_id, code=entity.code, table=entity.table_name)
    for listener in entity_deleting_listeners():
        listener(deleting)
    with revision(user=user, comment=f"Deleted entity {entity.code}"):
        table = entity.table_name
        entity.delete()
    entity_schema_apply([table_drop_ddl(schema=settings.ANALYTICS_SCHEMA, table=table)])
