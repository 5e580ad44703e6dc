"""Zone 2 bootstrap: the extensions our analytics need and the analytics_data
schema, plus the read-only role of the CQRS read side. Tables inside
analytics_data are never created by migrations (the ontology's DDL generator
owns them)."""

from django.conf import settings
from django.db import migrations

EXTENSIONS = ["timescaledb", "hll", "tdigest", "vector"]


def readonly_role(apps, schema_editor):
    from apps.warehouse.services import readonly_role_ensure

    default = settings.DATABASES["default"]
    readonly = settings.DATABASES.get("readonly")
    # Pointing the read side at the same credentials (a managed database without
    # CREATEROLE, say) is allowed: then there is no separate role to manage.
    if not readonly or readonly["USER"] == default["USER"]:
        return
    readonly_role_ensure(role=readonly["USER"], password=readonly["PASSWORD"], using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []

    operations = [
        *[
            migrations.RunSQL(f'CREATE EXTENSION IF NOT EXISTS "{name}"', reverse_sql=migrations.RunSQL.noop)
            for name in EXTENSIONS
        ],
        migrations.RunSQL(
            f'CREATE SCHEMA IF NOT EXISTS "{settings.ANALYTICS_SCHEMA}"', reverse_sql=migrations.RunSQL.noop
        ),
        migrations.RunPython(readonly_role, migrations.RunPython.noop),
    ]
