"""How entity definitions map onto `analytics_data` tables (warehouse specs)."""

from psycopg import sql

from apps.ontology.models import EntityDefinition, RelationshipDefinition
from apps.warehouse.services import ColumnSpec, TableSpec, table_ddl

# Type changes that keep every stored value (safe to apply automatically).
WIDENINGS = {
    ("integer", "decimal"),
    ("integer", "string"),
    ("decimal", "string"),
    ("boolean", "string"),
    ("date", "timestamp"),
    ("date", "string"),
    ("timestamp", "string"),
}


def entity_table_name(*, client_id: int, code: str) -> str:
    return f"c{client_id}_{code}"


def relationship_key_columns(entity: EntityDefinition) -> list[tuple[str]]:
    """Columns that relationships join on, one index each."""
    keys: set[str] = set()
    for rel in RelationshipDefinition.objects.filter(source_entity=entity):
        keys.add(rel.source_attribute)
    for rel in RelationshipDefinition.objects.filter(target_entity=entity):
        keys.add(rel.target_attribute)
    return [(key,) for key in sorted(keys)]


def entity_table_spec(entity: EntityDefinition) -> TableSpec:
    attributes = list(entity.attributes.all())
    is_series = entity.kind == EntityDefinition.Kind.TIME_SERIES
    return TableSpec(
        table=entity.table_name,
        columns=[ColumnSpec(a.code, a.data_type, a.nullable) for a in attributes],
        time_column=entity.time_attribute if is_series else None,
        indexes=relationship_key_columns(entity),
        chunk_interval=entity.chunk_interval or None,
    )


def entity_ddl(entity: EntityDefinition) -> list[sql.Composed]:
    """The idempotent statements that create the entity's table and indexes."""
    return table_ddl(entity_table_spec(entity))
