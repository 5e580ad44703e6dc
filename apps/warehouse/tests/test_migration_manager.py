"""Migration management on the real test database. The one test that migrates
backwards unapplies django-reversion's last migration (an index, no data) and
migrates forwards again whatever happens."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection, connections

from apps.core.errors import AppError
from apps.core.tests.factories import MembershipFactory, UserFactory
from apps.warehouse.database_url import database_url_normalise
from apps.warehouse.migration_manager import AutomatedMigrationManager

ROOT = Path(__file__).resolve().parents[3]
REVERSION_FIRST = "0001_squashed_0004_auto_20160611_1202"
REVERSION_LAST = "0002_add_index_on_version_for_content_type_and_db"
REVERSION_INDEX = "reversion_v_content_f95daf_idx"


def _index_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
        return cursor.fetchone() is not None


# --- TimescaleDB and privileges --------------------------------------------------------------


@pytest.mark.django_db
def test_timescaledb_is_validated_on_the_real_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        installed = cursor.fetchone()[0]

    result = AutomatedMigrationManager().validate_timescaledb()

    assert result.ok, result.problems
    assert result.problems == []
    assert result.extension_installed
    assert result.version == installed
    assert result.license == "apache"
    assert result.continuous_aggregates is False  # not in the Apache edition
    assert result.role == connection.settings_dict["USER"]
    assert not result.is_superuser  # least privilege: it owns the schema, that is enough
    assert (result.schema, result.schema_exists, result.can_create_in_schema) == ("analytics_data", True, True)


@pytest.mark.django_db(databases=["default", "readonly"])
def test_a_role_that_may_not_create_in_analytics_data_is_named_as_a_problem():
    # The read side's role: it may use analytics_data, not create in it. (The
    # application's role may not CREATE ROLE a probe of its own: least privilege.)
    role = connections["readonly"].settings_dict["USER"]

    result = AutomatedMigrationManager(using="readonly").validate_timescaledb()

    assert not result.ok
    assert result.role == role
    assert not result.is_superuser
    assert not result.can_create_in_schema
    owner = connection.settings_dict["USER"]
    assert result.problems == [f"Role {role} may not create tables in schema analytics_data (owner {owner})."]


# --- status, offline SQL, apply ----------------------------------------------------------------


@pytest.mark.django_db
def test_status_lists_applied_migrations_per_app_and_nothing_pending():
    status = AutomatedMigrationManager().status()

    by_app = {app.app: app for app in status.apps}
    # Every migration on disk, in order, is reported applied.
    from django.db.migrations.loader import MigrationLoader

    on_disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    for label in ("ontology", "warehouse", "messaging"):
        assert by_app[label].applied == sorted(name for app, name in on_disk if app == label)
    assert by_app["ontology"].applied[:2] == ["0001_initial", "0002_loads_and_drift"]
    assert {"core", "auth", "django_celery_beat", "reversion"} <= set(by_app)
    assert all(app.pending == [] for app in status.apps)
    assert all(m.applied_at for app in status.apps for m in app.migrations)
    assert status.pending == []
    assert status.conflicts == {}
    assert status.unknown_applied == []
    assert AutomatedMigrationManager().pending_sql() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("target", "code", "fragment"),
    [
        ("", "invalid_target", "'app_label' or 'app_label.migration_name'"),
        ("nope", "unknown_app", "No app 'nope' with migrations"),
        ("nope.0001_initial", "unknown_app", "No app 'nope'"),
        ("core.0099_missing", "unknown_migration", "App 'core' has no migration '0099_missing'"),
        ("auth.00", "ambiguous_target", "matches several migrations of auth"),
    ],
)
def test_bad_targets_are_refused_naming_the_problem(target, code, fragment):
    with pytest.raises(AppError) as caught:
        AutomatedMigrationManager().apply(target)
    assert caught.value.code == code
    assert fragment in caught.value.message


@pytest.mark.django_db
def test_applying_inside_a_transaction_is_refused():
    with pytest.raises(AppError) as caught:
        AutomatedMigrationManager().apply("core")
    assert caught.value.code == "in_transaction"


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_migration_is_pending_shows_its_sql_and_applies_again():
    manager = AutomatedMigrationManager()
    try:
        with pytest.raises(AppError) as refused:
            manager.apply(f"reversion.{REVERSION_FIRST}")
        assert refused.value.code == "backwards_refused"
        assert _index_exists(REVERSION_INDEX)

        back = manager.apply(f"reversion.{REVERSION_FIRST}", allow_backwards=True)
        assert back.unapplied == [f"reversion.{REVERSION_LAST}"]
        assert back.applied == []
        assert f"Unapplying reversion.{REVERSION_LAST}... OK" in back.output
        assert not _index_exists(REVERSION_INDEX)

        status = manager.status()
        assert status.pending == [f"reversion.{REVERSION_LAST}"]
        reversion = next(app for app in status.apps if app.app == "reversion")
        assert (reversion.applied, reversion.pending) == ([REVERSION_FIRST], [REVERSION_LAST])

        (pending,) = manager.pending_sql()
        assert (pending.app, pending.name) == ("reversion", REVERSION_LAST)
        assert f'CREATE INDEX "{REVERSION_INDEX}" ON "reversion_version" ("content_type_id", "db");' in pending.sql
        assert not _index_exists(REVERSION_INDEX)  # offline: shown, not run

        forward = manager.apply("reversion")
        assert forward.applied == [f"reversion.{REVERSION_LAST}"]
        assert f"Applying reversion.{REVERSION_LAST}... OK" in forward.output
        assert _index_exists(REVERSION_INDEX)
        assert manager.status().pending == []
        assert manager.apply(None).output.strip().endswith("No migrations to apply.")
    finally:
        call_command("migrate", "reversion", verbosity=0)
    assert _index_exists(REVERSION_INDEX)


@pytest.mark.django_db
def test_a_second_apply_while_one_runs_is_a_conflict():
    lock = "SELECT {}(hashtextextended(%s, 0))"
    key = [AutomatedMigrationManager.LOCK_KEY]
    other = connection.copy()  # another session: a second web worker, say
    busy = AutomatedMigrationManager()
    busy.connection = other
    with connection.cursor() as cursor:
        cursor.execute(lock.format("pg_advisory_lock"), key)
    try:
        with pytest.raises(AppError) as caught:
            busy.apply("core")
        assert (caught.value.status_code, caught.value.code) == (409, "busy")
    finally:
        other.close()
        with connection.cursor() as cursor:
            cursor.execute(lock.format("pg_advisory_unlock"), key)


# --- API ----------------------------------------------------------------------------------------


def test_anonymous_callers_are_401(api_client, db):
    for method, url in [
        ("get", "/api/v1/database/migrations/"),
        ("get", "/api/v1/database/migrations/sql"),
        ("post", "/api/v1/database/migrations/apply"),
    ]:
        response = getattr(api_client, method)(url)
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "not_authenticated"


def test_non_staff_users_are_403_even_as_client_admins(api_client, db):
    api_client.force_authenticate(MembershipFactory(role="admin", is_default=True).user)
    for method, url in [
        ("get", "/api/v1/database/migrations/"),
        ("get", "/api/v1/database/migrations/sql/"),
        ("post", "/api/v1/database/migrations/apply/"),
    ]:
        response = getattr(api_client, method)(url, format="json")
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.fixture
def staff_client(api_client, db):
    api_client.force_authenticate(UserFactory(is_staff=True))
    return api_client


def test_staff_see_status_with_timescale_validation(staff_client):
    response = staff_client.get("/api/v1/database/migrations")
    assert response.status_code == 200
    body = response.json()
    assert body["timescaledb"]["license"] == "apache"
    assert body["timescaledb"]["ok"] is True
    assert body["pending"] == []
    ontology = next(app for app in body["apps"] if app["app"] == "ontology")
    on_disk = sorted(
        path.stem for path in (Path(django_apps.get_app_config("ontology").path) / "migrations").glob("0*.py")
    )
    assert ontology["applied"] == on_disk
    assert ontology["pending"] == []
    assert ontology["migrations"][0]["name"] == "0001_initial"
    assert ontology["migrations"][0]["applied"] is True

    sql_response = staff_client.get("/api/v1/database/migrations/sql/")
    assert sql_response.status_code == 200
    assert sql_response.json() == {"migrations": []}


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        ({"target": "nope"}, "unknown_app", "No app 'nope' with migrations"),
        ({"target": "core.0099"}, "unknown_migration", "has no migration '0099'"),
        ({"target": ""}, "invalid", "target"),
        ({"target": "core", "allow_backwards": "maybe"}, "invalid", "allow_backwards"),
    ],
)
def test_bad_apply_targets_are_400(staff_client, payload, code, fragment):
    response = staff_client.post("/api/v1/database/migrations/apply/", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]


@pytest.mark.django_db(transaction=True)
def test_staff_apply_through_the_api(api_client):
    api_client.force_authenticate(UserFactory(is_staff=True))
    try:
        refused = api_client.post(
            "/api/v1/database/migrations/apply", {"target": f"reversion.{REVERSION_FIRST}"}, format="json"
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "backwards_refused"
        assert refused.json()["error"]["details"] == {"unapply": [f"reversion.{REVERSION_LAST}"]}

        back = api_client.post(
            "/api/v1/database/migrations/apply/",
            {"target": f"reversion.{REVERSION_FIRST}", "allow_backwards": True},
            format="json",
        )
        assert back.status_code == 200
        assert back.json()["unapplied"] == [f"reversion.{REVERSION_LAST}"]
        assert api_client.get("/api/v1/database/migrations/sql").json()["migrations"][0]["name"] == REVERSION_LAST

        forward = api_client.post("/api/v1/database/migrations/apply/", {"target": None}, format="json")
        assert forward.status_code == 200
        assert forward.json()["applied"] == [f"reversion.{REVERSION_LAST}"]
        assert "Applying reversion." in forward.json()["output"]
    finally:
        call_command("migrate", "reversion", verbosity=0)
    assert _index_exists(REVERSION_INDEX)


# --- DATABASE_URL spellings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/ae", "postgresql://u:p@db:5432/ae"),
        ("postgresql://u:p@db:5432/ae", "postgresql://u:p@db:5432/ae"),
        ("postgresql+psycopg://u:p@db/ae?sslmode=require", "postgresql://u:p@db/ae?sslmode=require"),
        ("postgresql+psycopg2://u:p@db:5432/ae", "postgresql://u:p@db:5432/ae"),
        ("postgresql+asyncpg://u:p@db:5432/ae", "postgresql://u:p@db:5432/ae"),
        ("postgresql+asyncpg://u:p@db/ae?ssl=require", "postgresql://u:p@db/ae?sslmode=require"),
        ("postgresql+asyncpg://u:p@db/ae?ssl=true&application_name=x", "postgresql://u:p@db/ae?sslmode=require&application_name=x"),
        ("POSTGRESQL+ASYNCPG://u:p%40ss@db/ae", "postgresql://u:p%40ss@db/ae"),
        ("  postgres://u@/ae?host=/var/run/postgresql  ", "postgresql://u@/ae?host=/var/run/postgresql"),
    ],
)  # fmt: skip
def test_database_url_spellings_become_postgresql(url, expected):
    assert database_url_normalise(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:secret@db/ae", "unsupported scheme 'mysql'"),
        ("postgresql+pg8000://u:secret@db/ae", "unsupported scheme 'postgresql+pg8000'"),
        ("sqlite:///var/ae.db", "unsupported scheme 'sqlite'"),
        ("db:5432/ae", "has no scheme"),
        ("", "is empty"),
    ],
)
def test_other_urls_are_a_clear_value_error_without_the_password(url, fragment):
    with pytest.raises(ValueError, match="DATABASE_URL") as caught:
        database_url_normalise(url)
    assert fragment in str(caught.value)
    assert "secret" not in str(caught.value)


def test_settings_accept_an_asyncpg_database_url_before_django_is_set_up():
    code = (
        "from analytics_engine.settings import base;"
        "d = base.DATABASES['default'];"
        "print(base.DATABASE_URL, d['ENGINE'], d['HOST'], d['PORT'], d['NAME'], d['OPTIONS']['sslmode'],"
        " base.DATABASES['readonly']['USER'])"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql+asyncpg://app:pw@db.example:6543/ae?ssl=require",
        "SECRET_KEY": "x" * 50,
        "AE_READONLY_USER": "reader",
    }
    env.pop("DATABASE_READONLY_URL", None)
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert output == [
        "postgresql://app:pw@db.example:6543/ae?sslmode=require",
        "django.db.backends.postgresql",
        "db.example",
        "6543",
        "ae",
        "require",
        "reader",
    ]


def test_settings_refuse_an_unsupported_database_url():
    env = {**os.environ, "DATABASE_URL": "mysql://app:pw@db/ae", "SECRET_KEY": "x" * 50}
    result = subprocess.run(
        [sys.executable, "-c", "import analytics_engine.settings.base"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "ValueError: DATABASE_URL uses the unsupported scheme 'mysql'" in result.stderr
