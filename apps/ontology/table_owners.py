"""The ontology answers the warehouse's question "whose table is this?"
(apps.warehouse.services.hooks), registered from OntologyConfig.ready()."""

from django.conf import settings

from apps.ontology.models import EntityDefinition
from apps.warehouse.services.hooks import on_entity_table, on_table_owner
from apps.warehouse.types import TableOwner


@on_table_owner
def entity_table_owner(table_schema: str, table_name: str) -> TableOwner | None:
    if table_schema != settings.ANALYTICS_SCHEMA:
        return None
    entity = EntityDefinition.objects.filter(table_name=table_name).select_related("client").first()
    if entity is None:
        return None
    return TableOwner(client_id=entity.client_id, client_code=entity.client.code, entity=entity.code)


@on_entity_table
def entity_table_name_get(client_id: int, entity: str) -> str | None:
    tables = EntityDefinition.objects.filter(client_id=client_id, code=entity).values_list("table_name", flat=True)
    return tables.first()
