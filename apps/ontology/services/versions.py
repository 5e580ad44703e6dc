"""Reverting a definition to an earlier version. A revert is an ordinary
update to the old state, through the same service and checks: an entity's
table is altered the same way (and refused the same way when unsafe), and the
revert is itself recorded as a new version."""

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from reversion.models import Version

from apps.core.errors import AppError, NotFound
from apps.ontology import models as m
from apps.ontology.queries import definition_model
from apps.ontology.services.definitions import LINKS, DefinitionInput, definition_update
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_update
from apps.ontology.services.metrics import MetricInput, metric_update
from apps.ontology.services.relationships import RelationshipInput, relationship_update


def _version(obj, version_id: int) -> Version:
    version = Version.objects.get_for_object(obj).filter(pk=version_id).select_related("revision").first()
    if version is None:
        raise NotFound(f"{obj.code} has no version {version_id}.", details={"version": version_id})
    return version


def _codes(model, ids) -> list[str]:
    found = dict(model.objects.filter(pk__in=ids or []).values_list("pk", "code"))
    missing = [i for i in ids or [] if i not in found]
    if missing:
        raise AppError(
            f"That version links to {model._meta.verbose_name_plural} that no longer exist; it cannot be restored.",
            code="revert_impossible",
        )
    return [found[i] for i in ids or []]


def _entity_input(version: Version) -> EntityInput:
    fields = version.field_dict
    ct = ContentType.objects.get_for_model(m.AttributeDefinition)
    attributes = sorted(
        (v.field_dict for v in version.revision.version_set.filter(content_type=ct)),
        key=lambda a: (a["position"], a["id"]),
    )
    return EntityInput(
        code=fields["code"],
        name=fields["name"],
        description=fields["description"],
        kind=fields["kind"],
        time_attribute=fields["time_attribute"],
        # Versions from before the field keep the current interval (None).
        chunk_interval=fields.get("chunk_interval") or None,
        attributes=[
            AttributeInput(
                code=a["code"],
                data_type=a["data_type"],
                nullable=a["nullable"],
                enum_values=tuple(a["enum_values"] or ()),
                name=a["name"],
                description=a["description"],
            )
            for a in attributes
        ],
    )


@transaction.atomic
def definition_revert(*, obj, version_id: int, user=None):
    """Restore version `version_id` of `obj` (a model instance, or what
    apps.ontology.selectors returned) through the update services."""
    obj = definition_model(obj)
    version = _version(obj, version_id)
    fields = version.field_dict
    if isinstance(obj, m.EntityDefinition):
        return entity_update(entity=obj, data=_entity_input(version), user=user)
    if isinstance(obj, m.MetricDefinition):
        # reversion stores foreign keys under their attname (`entity_id`).
        entity = _codes(m.EntityDefinition, [fields["entity_id"]])[0] if fields.get("entity_id") else None
        data = MetricInput(
            code=fields["code"],
            name=fields["name"],
            formula=fields["formula"],
            entity=entity,
            unit=fields["unit"],
            domain=fields["domain"],
            mode=fields["mode"],
            description=fields["description"],
        )
        return metric_update(metric=obj, data=data, user=user)
    if isinstance(obj, m.RelationshipDefinition):
        data = RelationshipInput(
            code=fields["code"],
            name=fields["name"],
            description=fields["description"],
            kind=fields["kind"],
            source_entity=_codes(m.EntityDefinition, [fields["source_entity_id"]])[0],
            target_entity=_codes(m.EntityDefinition, [fields["target_entity_id"]])[0],
            source_attribute=fields["source_attribute"],
            target_attribute=fields["target_attribute"],
        )
        return relationship_update(rel=obj, data=data, user=user)
    plain, links = {}, {}
    for key, value in fields.items():
        name = key.removesuffix("_id") if key.removesuffix("_id") in LINKS else key
        if name in LINKS:
            target, many = LINKS[name]
            links[name] = _codes(target, value) if many else (_codes(target, [value])[0] if value else None)
        elif name not in ("id", "client_id", "code", "name", "description", "created_at", "updated_at"):
            plain[name] = value
    data = DefinitionInput(
        code=fields["code"], name=fields["name"], description=fields["description"], fields=plain, links=links
    )
    return definition_update(obj=obj, data=data, user=user)
