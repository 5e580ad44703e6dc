"""Real source servers for connector and ingestion tests: a database of its
own on the local PostgreSQL (the application's role may create databases)
and on the local MariaDB of scripts/services.sh, made for a test and dropped
after it. Registered for the whole suite in the root conftest.

A source is a dict the connections API takes as is:
`{"kind", "settings": {host, port, database}, "credentials": {username, password}}`,
plus "execute" (run SQL in the source, autocommit) for the test's setup."""

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest
from django.conf import settings

from apps.core.tests.waiting import wait_until


def _pg_admin() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname="postgres",
        autocommit=True,
    )  # fmt: skip


@pytest.fixture
def pg_source() -> Iterator[dict]:
    """A PostgreSQL database of its own, reached as the application's role."""
    db = settings.DATABASES["default"]
    name = f"src_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    conn = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=name, autocommit=True
    )

    def execute(statement: str, params=None) -> list[tuple]:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []

    try:
        yield {
            "kind": "postgresql",
            "settings": {"host": db["HOST"], "port": int(db["PORT"]), "database": name},
            "credentials": {"username": db["USER"], "password": db["PASSWORD"]},
            "execute": execute,
            "database": name,
        }
    finally:
        conn.close()
        wait_until(lambda: _pg_drop(name), what=f"database {name} to be dropped", timeout=15)


def _pg_drop(name: str) -> bool:
    """Drop the database; False while a server process of another role (the
    TimescaleDB launcher's scheduler looks into every new database for a few
    milliseconds) is connected to it: WITH (FORCE) may not end those."""
    with _pg_admin() as admin:
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            return False
    return True


def mariadb_server() -> dict:
    url = urlsplit(settings.SOURCES_LOCAL_MARIADB_URL)
    return {"host": url.hostname, "port": url.port or 3306, "user": url.username, "password": url.password or ""}


@pytest.fixture
def mariadb_source() -> Iterator[dict]:
    """A MariaDB database of its own on the local server."""
    server = mariadb_server()
    name = f"src_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(
        host=server["host"], port=server["port"], user=server["user"], password=server["password"], autocommit=True
    )
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    admin.select_db(name)

    def execute(statement: str, params=None) -> list[tuple]:
        with admin.cursor() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []

    try:
        yield {
            "kind": "mysql",
            "settings": {"host": server["host"], "port": server["port"], "database": name},
            "credentials": {"username": server["user"], "password": server["password"]},
            "execute": execute,
            "database": name,
        }
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def demo_source_database(settings) -> Iterator[str]:
    """The demo's policy administration database (`sources_demo`) under a
    name of its own on the local MariaDB, dropped after the
    test, so a test never touches a `make run` demo's database."""
    name = f"demo_{uuid.uuid4().hex[:12]}"
    settings.SOURCES_DEMO_DATABASE = name
    try:
        yield name
    finally:
        mariadb_database_drop(name)


def mariadb_database_drop(name: str) -> None:
    server = mariadb_server()
    admin = pymysql.connect(
        host=server["host"], port=server["port"], user=server["user"], password=server["password"], autocommit=True
    )
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()
