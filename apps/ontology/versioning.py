"""Version history of every ontology definition (django-reversion): the models
it follows and the revision every definition write runs in. Reading the
history (who, when, what changed) is selectors/versions.py; reverting,
services/versions.py."""

from collections.abc import Iterator
from contextlib import contextmanager

import reversion
from django.db import connection, transaction
from psycopg import sql

from apps.ontology import models as m
from apps.ontology.services.hooks import definitions_changed_listeners

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
