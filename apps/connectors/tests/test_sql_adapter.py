"""The SQL adapter's test, discovery and preview against real PostgreSQL and
MariaDB sources: each failure named at its stage in words a user can act on
(never the password), columns typed for the ontology, queries refused
unless they are one SELECT."""

import datetime as dt
import decimal
import logging
import socket
import uuid
from dataclasses import replace
from types import SimpleNamespace

import pytest

from apps.connectors.adapters import adapter_for
from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.adapters.sql import select_query_check
from apps.connectors.adapters.sql_types import description_types
from apps.connectors.types import ExtractRequest, SchemaChanged, SourceError


def _spec(source: dict, **settings) -> ConnectionSpec:
    return ConnectionSpec(
        kind=source["kind"], settings={**source["settings"], **settings}, credentials=dict(source["credentials"])
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["pg_source", "mariadb_source"])
def source(request) -> dict:
    return request.getfixturevalue(request.param)


def test_ok(source):
    outcome = adapter_for(_spec(source)).test()
    assert outcome.ok and outcome.stage == "query", outcome
    assert source["database"] in outcome.message


def test_wrong_password_names_the_user_never_the_password(source, caplog):
    spec = _spec(source)
    spec = replace(spec, credentials={**spec.credentials, "password": "Wr0ng-s3cret-pw"})
    with caplog.at_level(logging.DEBUG):
        outcome = adapter_for(spec).test()
    assert (outcome.ok, outcome.stage) == (False, "auth")
    assert f"Authentication failed for user {spec.credentials['username']!r}" in outcome.message
    assert "Wr0ng-s3cret-pw" not in outcome.message and "Wr0ng-s3cret-pw" not in caplog.text


def test_unknown_database(source):
    outcome = adapter_for(_spec(source, database="no_such_db")).test()
    assert (outcome.ok, outcome.stage) == (False, "connect")
    assert "The database 'no_such_db' does not exist" in outcome.message


def test_closed_port_is_refused(source):
    outcome = adapter_for(_spec(source, port=_closed_port())).test()
    assert (outcome.ok, outcome.stage) == (False, "connect")
    assert "was refused: nothing listens on that port" in outcome.message


def test_unresolvable_host(source):
    outcome = adapter_for(_spec(source, host="nonexistent.invalid")).test()
    assert (outcome.ok, outcome.stage) == (False, "dns")
    assert "'nonexistent.invalid' could not be found" in outcome.message


def test_postgresql_without_connect_privilege(pg_source):
    user = pg_source["credentials"]["username"]
    pg_source["execute"](f'REVOKE CONNECT ON DATABASE "{pg_source["database"]}" FROM PUBLIC, "{user}"')
    outcome = adapter_for(_spec(pg_source)).test()
    assert (outcome.ok, outcome.stage) == (False, "permission"), outcome
    assert f"User {user!r} may not connect to the database" in outcome.message


def test_mariadb_user_without_privileges(mariadb_source):
    name, password = f"np_{uuid.uuid4().hex[:8]}", "N0-privs-pw"
    mariadb_source["execute"](f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
    try:
        spec = replace(_spec(mariadb_source), credentials={"username": name, "password": password})
        outcome = adapter_for(spec).test()
    finally:
        mariadb_source["execute"](f"DROP USER '{name}'@'%'")
    assert (outcome.ok, outcome.stage) == (False, "permission"), outcome
    assert f"User {name!r} may not connect to the database" in outcome.message and password not in outcome.message


def test_postgresql_discovery_types_keys_views_and_schemas(pg_source):
    pg_source["execute"](
        """CREATE TABLE "Policies" ("POL_ID" bigint PRIMARY KEY, "STAT_CD" char(1) NOT NULL, "PREMIUM" numeric(12,2),
        "EFF_DT" date, "UPDATED" timestamptz, "ACTIVE" boolean, "EXTRA" jsonb, "N" smallint, "R" real, "T" time)"""
    )
    pg_source["execute"]('CREATE VIEW active AS SELECT "POL_ID" FROM "Policies"')
    pg_source["execute"]("CREATE SCHEMA ledger; CREATE TABLE ledger.entries (id int)")
    objects = {o.name: o for o in adapter_for(_spec(pg_source, schemas=["ledger"])).discover()}
    assert set(objects) == {"Policies", "active", "ledger.entries"}
    assert (objects["Policies"].kind, objects["active"].kind) == ("table", "view")
    columns = {c.name: c for c in objects["Policies"].columns}
    assert {n: c.type for n, c in columns.items()} == {
        "POL_ID": "integer", "STAT_CD": "string", "PREMIUM": "decimal", "EFF_DT": "date", "UPDATED": "timestamp",
        "ACTIVE": "boolean", "EXTRA": "json", "N": "integer", "R": "decimal", "T": "string",
    }  # fmt: skip
    assert columns["POL_ID"].primary_key and not columns["POL_ID"].nullable and not columns["STAT_CD"].primary_key
    assert columns["PREMIUM"].source_type == "NUMERIC(12, 2)" and columns["PREMIUM"].nullable


def test_mariadb_discovery(mariadb_source):
    mariadb_source["execute"](
        "CREATE TABLE pol (id int PRIMARY KEY, amount decimal(10,2), d datetime, flag tinyint(1), name varchar(20))"
    )
    (obj,) = adapter_for(_spec(mariadb_source)).discover()
    assert obj.name == "pol" and obj.kind == "table"
    assert [(c.name, c.type, c.primary_key) for c in obj.columns] == [
        ("id", "integer", True), ("amount", "decimal", False), ("d", "timestamp", False),
        ("flag", "integer", False), ("name", "string", False),
    ]  # fmt: skip
    assert obj.columns[4].source_type == "VARCHAR(20)"


def test_preview_rows_are_json_ready_and_limited(pg_source):
    pg_source["execute"]("CREATE TABLE p (id int, amount numeric(8,2), d date, at timestamptz)")
    pg_source["execute"]("INSERT INTO p SELECT g, g + 0.5, DATE '2026-01-01', TIMESTAMPTZ '2026-01-01 10:00Z' "
                         "FROM generate_series(1, 5) g")  # fmt: skip
    preview = adapter_for(_spec(pg_source)).preview(source_object="p", limit=2)
    assert [c.name for c in preview.columns] == ["id", "amount", "d", "at"]
    assert preview.rows == [
        {"id": 1, "amount": "1.50", "d": "2026-01-01", "at": "2026-01-01T10:00:00+00:00"},
        {"id": 2, "amount": "2.50", "d": "2026-01-01", "at": "2026-01-01T10:00:00+00:00"},
    ]
    query = adapter_for(_spec(pg_source)).preview(source_query="SELECT id FROM p WHERE id > 4", limit=10)
    assert query.rows == [{"id": 5}]


# One column of each ontology type as each server spells it. MariaDB has no
# boolean or JSON type of its own (BOOLEAN is TINYINT(1), JSON a LONGTEXT):
# discovery and preview both read them as integer and string.
TYPED_TABLES = {
    "postgresql": "CREATE TABLE typed (i int, big bigint, n numeric(9,2), d date, ts timestamptz, f boolean, "
    "v varchar(20), j json, jb jsonb, arr int[])",
    "mysql": "CREATE TABLE typed (i int, big bigint, n decimal(9,2), d date, ts timestamp NULL, f boolean, "
    "v varchar(20), j json, dt datetime, r double)",
}
TYPED_ROWS = {
    "postgresql": "INSERT INTO typed VALUES (1, 2, 3.50, '2026-01-02', '2026-01-02 10:00Z', true, 'x', '{\"a\": 1}', "
    "'{\"b\": 2}', '{1,2}')",
    "mysql": "INSERT INTO typed VALUES (1, 2, 3.50, '2026-01-02', '2026-01-02 10:00', true, 'x', '{\"a\": 1}', "
    "'2026-01-02 11:00', 1.5)",
}
EXPECTED_TYPES = {
    "postgresql": {"i": "integer", "big": "integer", "n": "decimal", "d": "date", "ts": "timestamp", "f": "boolean",
                   "v": "string", "j": "json", "jb": "json", "arr": "json"},
    "mysql": {"i": "integer", "big": "integer", "n": "decimal", "d": "date", "ts": "timestamp", "f": "integer",
              "v": "string", "j": "string", "dt": "timestamp", "r": "decimal"},
}  # fmt: skip


def test_preview_types_each_column_as_discovery_does_by_table_and_by_query(source):
    source["execute"](TYPED_TABLES[source["kind"]])
    source["execute"](TYPED_ROWS[source["kind"]])
    adapter = adapter_for(_spec(source))
    expected = EXPECTED_TYPES[source["kind"]]
    (discovered,) = adapter.discover()
    assert {c.name: c.type for c in discovered.columns} == expected

    by_table = adapter.preview(source_object="typed", limit=5)
    assert {c.name: c.type for c in by_table.columns} == expected
    assert [c.name for c in by_table.columns] == list(expected) and len(by_table.rows) == 1

    query = "SELECT i * 2 AS twice, n + 1 AS more, d, ts, f, v, j, 'lit' AS lit FROM typed WHERE 1 = 0"
    by_query = adapter.preview(source_query=query, limit=5)
    assert by_query.rows == []  # typed from the result's description, not from values
    assert {c.name: c.type for c in by_query.columns} == {
        "twice": "integer", "more": "decimal", "d": "date", "ts": "timestamp", "f": expected["f"], "v": "string",
        "j": expected["j"], "lit": "string",
    }  # fmt: skip


def test_description_types_of_drivers_without_a_server_here():
    """pyodbc describes a column by its values' Python type, oracledb by a DbType."""
    pyodbc_cursor = SimpleNamespace(description=[("a", int), ("b", decimal.Decimal), ("c", dt.datetime),
                                                 ("d", dt.date), ("e", bool), ("f", str)])  # fmt: skip
    assert description_types(pyodbc_cursor, SimpleNamespace(name="mssql")) == [
        "integer", "decimal", "timestamp", "date", "boolean", "string"]  # fmt: skip
    oracle_cursor = SimpleNamespace(description=[("a", SimpleNamespace(name="DB_TYPE_NUMBER")),
                                                 ("b", SimpleNamespace(name="DB_TYPE_VARCHAR"))])  # fmt: skip
    assert description_types(oracle_cursor, SimpleNamespace(name="oracle")) == ["decimal", "string"]


def test_unknown_object_and_dropped_column(mariadb_source):
    mariadb_source["execute"]("CREATE TABLE t (a int, b int)")
    adapter = adapter_for(_spec(mariadb_source))
    with pytest.raises(SourceError, match="no table or view 'missing'") as caught:
        adapter.preview(source_object="missing", limit=5)
    assert caught.value.status_code == 400 and caught.value.code == "unknown_object"
    with pytest.raises(SchemaChanged, match="no longer has the column\\(s\\) 'c'"):
        adapter.extract(ExtractRequest(source_object="t", columns=("a", "c")))


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("SELECT 1; SELECT 2", "one SELECT statement, not 2"),
        ("DELETE FROM t", "must be a SELECT, not DELETE"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "must only read: it contains DELETE"),
        ("SELECT * INTO x FROM t", "INTO"),
        ("SELECT * FROM t FOR UPDATE", "must not lock rows"),
        ("SELEC * FROM", "could not be parsed"),
        ("", "is empty"),
    ],
)
def test_query_check_refuses_anything_but_one_select(query, why):
    with pytest.raises(SourceError, match=why) as caught:
        select_query_check("postgresql", query)
    assert caught.value.code == "invalid_query"


def test_query_check_accepts_selects():
    select_query_check("postgresql", "WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION SELECT 2")
    select_query_check("mysql", "SELECT `STAT_CD`, COUNT(*) FROM t GROUP BY `STAT_CD`;")


def test_tls_required_by_the_connection(pg_source):
    outcome = adapter_for(_spec(pg_source, sslmode="require")).test()  # the local server has no TLS
    assert (outcome.ok, outcome.stage) == (False, "tls"), outcome
    assert "TLS" in outcome.message
