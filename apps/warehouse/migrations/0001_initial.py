"""Zone 2 bootstrap: the extensions our analytics need and the analytics_data
schema, plus the read-only role of the CQRS read side. Tables inside
analytics_data are never created by migrations (the ontology's DDL generator
owns them)."""

from django.conf import settings
from django.db import migrations

EXTENSIONS = ["timescaledb", "hll", "tdigest", "vector"]


def extensions_ensure(apps, schema_editor):
    """Create the extensions that are missing. Most need a superuser, which
    the application's role is not (least privilege): a DBA creates them once
    (scripts/services.sh does, also in template1 for test databases), and
    then this is a no-op."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError
    from psycopg import errors, sql

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        present = {row[0] for row in cursor.fetchall()}
        for name in EXTENSIONS:
            if name in present:
                continue
            try:
                cursor.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
            except DatabaseError as exc:
                if isinstance(exc.__cause__, errors.InsufficientPrivilege):
                    raise ImproperlyConfigured(
                        f"The {name} extension is not installed in this database and the application's role may "
                        f'not create it. A database administrator runs CREATE EXTENSION "{name}" once '
                        "(docs/operations.md, 'Database roles')."
                    ) from exc
                raise


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
        migrations.RunPython(extensions_ensure, migrations.RunPython.noop),
        migrations.RunSQL(
            f'CREATE SCHEMA IF NOT EXISTS "{settings.ANALYTICS_SCHEMA}"', reverse_sql=migrations.RunSQL.noop
        ),
        migrations.RunPython(readonly_role, migrations.RunPython.noop),
    ]
