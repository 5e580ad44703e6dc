"""Least privilege in the database (issue #15, item 8): the application's role
is no superuser and cannot manage roles or read password hashes; the read
side's role cannot write, not even after asking for a read-write transaction.
The rest of the suite runs as these roles, which proves nothing needs more."""

import psycopg
import pytest
from django.db import DatabaseError, connection, connections, transaction
from psycopg import errors

pytestmark = pytest.mark.django_db(databases=["default", "readonly"])


def _refused(cursor, statement: str) -> BaseException:
    # A savepoint, so the test's transaction outlives the refusal.
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(using=cursor.db.alias):
        cursor.execute(statement)
    return excinfo.value.__cause__


def test_the_application_role_is_no_superuser_and_cannot_manage_roles():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, False, False)
        assert isinstance(_refused(cursor, "CREATE ROLE ae_intruder LOGIN SUPERUSER"), errors.InsufficientPrivilege)
        assert isinstance(_refused(cursor, "ALTER ROLE current_user SUPERUSER"), errors.InsufficientPrivilege)
        assert isinstance(_refused(cursor, "SELECT rolpassword FROM pg_authid"), errors.InsufficientPrivilege)
        assert isinstance(
            _refused(cursor, "COPY (SELECT 1) TO PROGRAM 'true'"), errors.InsufficientPrivilege
        )  # no shell on the database server


def test_the_application_role_owns_what_it_needs():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_userbyid(nspowner) = current_user FROM pg_namespace WHERE nspname = 'analytics_data'"
        )
        assert cursor.fetchone() == (True,)
        cursor.execute(
            "SELECT pg_get_userbyid(datdba) = current_user FROM pg_database WHERE datname = current_database()"
        )
        assert cursor.fetchone() == (True,)


def _readonly_connect() -> psycopg.Connection:
    # Its own session, outside the test's transaction: it may then ask for read-write.
    params = connections["readonly"].get_connection_params()
    return psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True)


def _refused_raw(conn: psycopg.Connection, *statements: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as excinfo, conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return excinfo.value


def test_the_read_only_role_cannot_write():
    with _readonly_connect() as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, current_setting('default_transaction_read_only') "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, "on")
        refused = _refused_raw(conn, "CREATE TABLE analytics_data.ro_probe (x int)")
        assert isinstance(refused, errors.ReadOnlySqlTransaction)
        # Even in a transaction that asks to be read-write: no privilege to write.
        for statement in ("CREATE TABLE analytics_data.ro_probe (x int)", "DELETE FROM django_migrations"):
            refused = _refused_raw(conn, "SET TRANSACTION READ WRITE", statement)
            assert isinstance(refused, errors.InsufficientPrivilege), statement
        # Platform tables (users, sessions) are not even readable.
        assert isinstance(_refused_raw(conn, "SELECT password FROM auth_user"), errors.InsufficientPrivilege)
