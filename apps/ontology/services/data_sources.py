"""Data source definitions written by another app: the connectors app
records what a connection's discovery found (its objects and columns) as
the client's `DataSourceDefinition` of the same code. Versioned like every
definition (a revision per write); settings never hold a credential."""

from django.db import transaction

from apps.ontology import models as m
from apps.ontology.identifiers import code_validate
from apps.ontology.services.definitions import _choices_check, _fields_validate
from apps.ontology.versioning import revision


@transaction.atomic
def data_source_record(*, client_id: int, code: str, name: str, kind: str, settings: dict, user=None) -> None:
    """Create or update the client's data source `code` with `kind` and
    `settings` (refused, naming them, if a key looks like a credential);
    its description, schedule and linked entities are left as they are."""
    code_validate(code, what="data source")
    _choices_check(m.DataSourceDefinition, "kind", kind)
    fields = _fields_validate(m.DataSourceDefinition, {"settings": settings})
    source = m.DataSourceDefinition.objects.select_for_update().filter(client_id=client_id, code=code).first()
    verb = "Recorded" if source is None else "Updated"
    with revision(user=user, comment=f"{verb} data source {code} from its connection's discovery"):
        source = source or m.DataSourceDefinition(client_id=client_id, code=code)
        source.name = name or code
        source.kind = kind
        source.settings = fields["settings"]
        source.save()
