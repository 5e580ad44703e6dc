import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from apps.core.models import Client, Membership
from apps.core.services import demo_bootstrap

pytestmark = pytest.mark.django_db


def test_demo_bootstrap_creates_client_and_admin_once_and_resets_password(settings, capsys, demo_source_database):
    first = demo_bootstrap(admin_password="first-pass")
    assert (first.created_client, first.created_user) == (True, True)
    assert authenticate(username="admin", password="first-pass").is_superuser

    settings.AE_ADMIN_PASSWORD = "second-pass"
    call_command("demo_bootstrap")
    assert "updated" in capsys.readouterr().out
    assert authenticate(username="admin", password="first-pass") is None
    assert authenticate(username="admin", password="second-pass") is not None
    assert Client.objects.filter(code="demo").count() == 1
    membership = Membership.objects.get(user__username="admin")
    assert (membership.client.code, membership.role, membership.is_default) == ("demo", "admin", True)


def test_migrations_match_models():
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_migrations_applied_extensions_and_schema(django_db_setup):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension ORDER BY extname")
        extensions = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'analytics_data'")
        schema = cursor.fetchone()
    assert {"timescaledb", "hll", "tdigest", "vector"} <= extensions
    assert schema == (1,)
