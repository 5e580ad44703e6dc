"""Relationships between entities, checked against their attributes, with an
index on each side's key column."""

from dataclasses import dataclass

from django.db import transaction

from apps.core.errors import AppError, Conflict
from apps.ontology.ddl import entity_ddl
from apps.ontology.identifiers import code_validate
from apps.ontology.models import EntityDefinition, RelationshipDefinition
from apps.ontology.services.entities import entity_schema_apply
from apps.ontology.versioning import revision


@dataclass(frozen=True)
class RelationshipInput:
    code: str
    source_entity: str
    target_entity: str
    kind: str
    source_attribute: str
    target_attribute: str
    name: str = ""
    description: str = ""


def _entity(client_id: int, code: str, role: str) -> EntityDefinition:
    entity = EntityDefinition.objects.filter(client_id=client_id, code=code).first()
    if entity is None:
        raise AppError(f"Unknown {role} entity {code!r}.", code="unknown_entity", details={role + "_entity": code})
    return entity


def _resolve(client_id: int, data: RelationshipInput) -> tuple[EntityDefinition, EntityDefinition]:
    code_validate(data.code, what="relationship")
    if data.kind not in RelationshipDefinition.Kind.values:
        raise AppError(
            f"Unknown relationship kind {data.kind!r}; use one of {', '.join(RelationshipDefinition.Kind.values)}.",
            code="invalid_kind",
            details={"kind": data.kind},
        )
    source = _entity(client_id, data.source_entity, "source")
    target = _entity(client_id, data.target_entity, "target")
    types = {}
    for entity, attribute, role in (
        (source, data.source_attribute, "source"),
        (target, data.target_attribute, "target"),
    ):
        found = entity.attributes.filter(code=attribute).first()
        if found is None:
            raise AppError(
                f"Entity {entity.code!r} has no attribute {attribute!r}.",
                code="unknown_attribute",
                details={role + "_attribute": attribute, "entity": entity.code},
            )
        types[role] = found.data_type
    if types["source"] != types["target"]:
        raise AppError(
            f"{source.code}.{data.source_attribute} is {types['source']} but "
            f"{target.code}.{data.target_attribute} is {types['target']}: keys must have the same type.",
            code="type_mismatch",
        )
    return source, target


def _apply(rel: RelationshipDefinition, data: RelationshipInput, source, target) -> None:
    rel.name = data.name or data.code.replace("_", " ").capitalize()
    rel.description = data.description
    rel.source_entity = source
    rel.target_entity = target
    rel.kind = data.kind
    rel.source_attribute = data.source_attribute
    rel.target_attribute = data.target_attribute
    rel.save()


@transaction.atomic
def relationship_create(*, client_id: int, data: RelationshipInput, user=None) -> RelationshipDefinition:
    source, target = _resolve(client_id, data)
    if RelationshipDefinition.objects.filter(client_id=client_id, code=data.code).exists():
        raise Conflict(f"A relationship with code {data.code!r} already exists.", code="duplicate_code")
    with revision(user=user, comment=f"Created relationship {data.code}"):
        rel = RelationshipDefinition(client_id=client_id, code=data.code)
        _apply(rel, data, source, target)
    entity_schema_apply([*entity_ddl(source), *entity_ddl(target)])
    return rel


@transaction.atomic
def relationship_update(*, rel: RelationshipDefinition, data: RelationshipInput, user=None) -> RelationshipDefinition:
    if data.code != rel.code:
        raise AppError("A relationship's code cannot change.", code="immutable_field")
    source, target = _resolve(rel.client_id, data)
    with revision(user=user, comment=f"Changed relationship {rel.code}"):
        _apply(rel, data, source, target)
    entity_schema_apply([*entity_ddl(source), *entity_ddl(target)])
    return rel


@transaction.atomic
def relationship_delete(*, rel: RelationshipDefinition, user=None) -> None:
    with revision(user=user, comment=f"Deleted relationship {rel.code}"):
        rel.delete()
