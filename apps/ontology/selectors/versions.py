"""Reads of the version history of ontology definitions (django-reversion,
recorded by versioning.revision): who changed a definition (what a selector
returned: EntityView, RelationshipView, MetricView), when, and what changed,
as dataclasses; the API's history and the console's history and
diff pages read the same rows."""

from django.contrib.contenttypes.models import ContentType
from reversion.models import Version

from apps.ontology import models as m
from apps.ontology.queries import VIEW_MODELS
from apps.ontology.types import DefinitionVersion, VersionDiff


def _versions_for(definition) -> list[Version]:
    """`definition`: what a selector returned (EntityView, RelationshipView,
    MetricView) or, inside the ontology, the model instance itself."""
    model = VIEW_MODELS.get(type(definition))
    if model is None:
        versions = Version.objects.get_for_object(definition)
    else:
        versions = Version.objects.get_for_object_reference(model, definition.id)
    return list(versions.select_related("revision", "revision__user"))


def _children(version: Version) -> dict[str, dict]:
    """For an entity version: its attributes as stored in the same revision."""
    ct = ContentType.objects.get_for_model(m.AttributeDefinition)
    return {
        v.field_dict["code"]: {k: v.field_dict[k] for k in ("data_type", "nullable", "enum_values")}
        for v in version.revision.version_set.filter(content_type=ct)
    }


_IGNORED_FIELDS = {"id", "created_at", "updated_at", "client_id", "table_name", "depends_on_attributes"}


def _version_changes(version: Version, previous: Version | None) -> dict:
    """What this version changed compared with the one before it."""
    current = version.field_dict
    before = previous.field_dict if previous else {}
    changes = {
        key: {"from": before.get(key), "to": value}
        for key, value in current.items()
        if key not in _IGNORED_FIELDS and before.get(key) != value
    }
    if version.content_type.model_class() is m.EntityDefinition:
        now_attrs = _children(version)
        old_attrs = _children(previous) if previous else {}
        added = sorted(set(now_attrs) - set(old_attrs))
        removed = sorted(set(old_attrs) - set(now_attrs))
        changed = {
            code: {"from": old_attrs[code], "to": now_attrs[code]}
            for code in sorted(set(now_attrs) & set(old_attrs))
            if now_attrs[code] != old_attrs[code]
        }
        if added or removed or changed:
            changes["attributes"] = {"added": added, "removed": removed, "changed": changed}
    return changes


def definition_history(definition) -> list[DefinitionVersion]:
    """Every version of a definition (what a selector returned), newest
    first, each with what it changed compared with the one before it."""
    versions = _versions_for(definition)
    return [
        DefinitionVersion(
            id=v.pk,
            at=v.revision.date_created,
            user=v.revision.user.get_username() if v.revision.user else None,
            comment=v.revision.comment,
            changes=_version_changes(v, versions[i + 1] if i + 1 < len(versions) else None),
            is_current=i == 0,
        )
        for i, v in enumerate(versions)
    ]


def definition_version_diff(definition, *, version_id: int) -> VersionDiff | None:
    """What changed from version `version_id` of a definition to its current
    one (the history's own comparison, applied to the newest version and the
    chosen one); None when the definition has no such version."""
    versions = _versions_for(definition)
    chosen = next((v for v in versions if v.pk == version_id), None)
    if chosen is None:
        return None
    current = versions[0]
    changes = _version_changes(current, chosen) if chosen.pk != current.pk else {}
    return VersionDiff(version_id=chosen.pk, is_current=chosen.pk == current.pk, changes=changes)


def definition_version_count(definition) -> int:
    """How many versions of a definition are recorded."""
    return len(_versions_for(definition))
