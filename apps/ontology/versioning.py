"""Version history of every ontology definition (django-reversion): who, when,
what changed; viewable and revertable through the API and the admin."""

from collections.abc import Iterator
from contextlib import contextmanager

import reversion
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from psycopg import sql
from reversion.models import Version

from apps.ontology import models as m
from apps.ontology.hooks import definitions_changed_listeners

reversion.register(m.EntityDefinition, follow=["attributes"])
reversion.register(m.AttributeDefinition)
for _model in (
    m.RelationshipDefinition,
    m.MetricDefinition,
    m.ValueChainPatternDefinition,
    m.ActorDefinition,
    m.AnalyticsStrategyDefinition,
    m.AnalyticsUseCaseDefinition,
    m.DataSourceDefinition,
):
    reversion.register(_model)


@contextmanager
def revision(*, user, comment: str) -> Iterator[None]:
    """Record everything saved inside as one version, signed by `user`, and
    tell the definitions-changed listeners which clients' definitions the
    transaction changed (every service that writes a definition writes it in
    here; listeners defer to the commit what must wait for it)."""
    with reversion.create_revision(atomic=False):
        if user is not None and getattr(user, "is_authenticated", False):
            reversion.set_user(user)
        reversion.set_comment(comment)
        yield
    clients = _changed_clients()
    for listener in definitions_changed_listeners():
        listener(clients)


def _changed_clients() -> frozenset[int] | None:
    """The clients whose definitions the current transaction changed, as the
    database triggers counted them; None when that is not known (outside a
    transaction each statement committed on its own): any client may have."""
    if not transaction.get_connection().in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT DISTINCT client_id FROM {} WHERE txid = txid_current()").format(
                sql.Identifier(m.DefinitionChange._meta.db_table)
            )
        )
        return frozenset(client for (client,) in cursor.fetchall()) or None


def versions_for(obj) -> list[Version]:
    return list(Version.objects.get_for_object(obj).select_related("revision", "revision__user"))


def _children(version: Version) -> dict[str, dict]:
    """For an entity version: its attributes as stored in the same revision."""
    ct = ContentType.objects.get_for_model(m.AttributeDefinition)
    return {
        v.field_dict["code"]: {k: v.field_dict[k] for k in ("data_type", "nullable", "enum_values")}
        for v in version.revision.version_set.filter(content_type=ct)
    }


IGNORED_FIELDS = {"id", "created_at", "updated_at", "client_id", "table_name", "depends_on_attributes"}


def version_changes(version: Version, previous: Version | None) -> dict:
    """What this version changed compared with the one before it."""
    current = version.field_dict
    before = previous.field_dict if previous else {}
    changes = {
        key: {"from": before.get(key), "to": value}
        for key, value in current.items()
        if key not in IGNORED_FIELDS and before.get(key) != value
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
