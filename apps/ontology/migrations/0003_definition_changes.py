"""Definition changes recorded by the database itself: a trigger on every
table a definition answer is read from (definitions, attributes, link
tables) counts each row written in ontology_definitionchange, one row per
(client, transaction). A trigger, not service code or signals, because
every write path must count (services, admin, reverts, imports, bulk
updates, SQL) and a forgotten one would serve stale metadata from the cache.
apps/ontology/tests/test_definition_changes.py checks that every definition
table carries it."""

from django.db import migrations, models

# table -> None (the row has client_id) or (column, parent table with client_id)
TABLES = {
    "ontology_entitydefinition": None,
    "ontology_attributedefinition": ("entity_id", "ontology_entitydefinition"),
    "ontology_relationshipdefinition": None,
    "ontology_metricdefinition": None,
    "ontology_metricdefinition_depends_on_metrics": ("from_metricdefinition_id", "ontology_metricdefinition"),
    "ontology_valuechainpatterndefinition": None,
    "ontology_valuechainpatterndefinition_entities": (
        "valuechainpatterndefinition_id",
        "ontology_valuechainpatterndefinition",
    ),
    "ontology_valuechainpatterndefinition_metrics": (
        "valuechainpatterndefinition_id",
        "ontology_valuechainpatterndefinition",
    ),
    "ontology_actordefinition": None,
    "ontology_analyticsstrategydefinition": None,
    "ontology_analyticsusecasedefinition": None,
    "ontology_analyticsusecasedefinition_entities": (
        "analyticsusecasedefinition_id",
        "ontology_analyticsusecasedefinition",
    ),
    "ontology_analyticsusecasedefinition_metrics": (
        "analyticsusecasedefinition_id",
        "ontology_analyticsusecasedefinition",
    ),
    "ontology_datasourcedefinition": None,
    "ontology_datasourcedefinition_entities": ("datasourcedefinition_id", "ontology_datasourcedefinition"),
}
TRIGGER = "ontology_definition_change"

FUNCTION = """
CREATE FUNCTION ontology_definition_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed jsonb[] := ARRAY[]::jsonb[];
    row_data jsonb;
    client bigint;
BEGIN
    -- An update is counted for the old row's client and the new one's.
    IF TG_OP <> 'DELETE' THEN changed := array_append(changed, to_jsonb(NEW)); END IF;
    IF TG_OP <> 'INSERT' THEN changed := array_append(changed, to_jsonb(OLD)); END IF;
    FOREACH row_data IN ARRAY changed LOOP
        IF TG_NARGS = 0 THEN
            client := (row_data ->> 'client_id')::bigint;
        ELSE
            -- A parent already deleted in this transaction counted it itself.
            EXECUTE format('SELECT client_id FROM %I WHERE id = $1', TG_ARGV[1])
                INTO client USING (row_data ->> TG_ARGV[0])::bigint;
        END IF;
        IF client IS NOT NULL THEN
            INSERT INTO ontology_definitionchange AS c (client_id, txid, changes)
                VALUES (client, txid_current(), 1)
                ON CONFLICT (client_id, txid) DO UPDATE SET changes = c.changes + 1;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
"""


def _create_triggers() -> str:
    statements = [FUNCTION]
    for table, parent in TABLES.items():
        args = f"'{parent[0]}', '{parent[1]}'" if parent else ""
        statements.append(
            f'CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION ontology_definition_change({args});"
        )
    return "\n".join(statements)


def _drop_triggers() -> str:
    drops = [f'DROP TRIGGER IF EXISTS {TRIGGER} ON "{table}";' for table in TABLES]
    return "\n".join([*drops, "DROP FUNCTION IF EXISTS ontology_definition_change();"])


class Migration(migrations.Migration):
    dependencies = [("ontology", "0002_loads_and_drift")]

    operations = [
        migrations.CreateModel(
            name="DefinitionChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("client_id", models.BigIntegerField()),
                ("txid", models.BigIntegerField()),
                ("changes", models.BigIntegerField(default=1)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("client_id", "txid"), name="ontology_definitionchange_client_txid_unique"
                    )
                ],
            },
        ),
        migrations.RunSQL(_create_triggers(), _drop_triggers()),
    ]
