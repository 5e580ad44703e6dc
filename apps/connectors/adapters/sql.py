"""SQL sources through SQLAlchemy dialects: PostgreSQL (psycopg) and
MySQL/MariaDB (PyMySQL) tested against real servers; SQL Server (pyodbc) and
Oracle (python-oracledb) built to the same URLs and documented, their
drivers not installed here (docs/sources.md, "SQL Server and Oracle").

Extraction streams: a server-side cursor (psycopg's named cursor, PyMySQL's
SSCursor) read `batch_size` rows at a time, so memory stays flat whatever
the source's size. Identifiers go through the dialect's quoting, values are
bound; a query is one SELECT (sqlglot checks it) run read-only."""

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import sqlglot
from django.conf import settings
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.engine.reflection import Inspector
from sqlalchemy.pool import NullPool
from sqlglot import exp

from apps.connectors.adapters import adapter_register
from apps.connectors.adapters.base import Adapter, ConnectionSpec
from apps.connectors.adapters.sql_types import description_types, json_ready, ontology_type, type_spelling
from apps.connectors.network import destination_check
from apps.connectors.types import (
    Extraction,
    ExtractRequest,
    Preview,
    RecordBatch,
    SchemaChanged,
    SourceColumn,
    SourceError,
    SourceObject,
    TestOutcome,
)

# kind -> (SQLAlchemy driver name, default port)
DRIVERS: dict[str, tuple[str, int]] = {
    "postgresql": ("postgresql+psycopg", 5432),
    "mysql": ("mysql+pymysql", 3306),
    "mssql": ("mssql+pyodbc", 1433),
    "oracle": ("oracle+oracledb", 1521),
}
# sqlglot's dialect names, for checking a job's query.
SQLGLOT_DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "mssql": "tsql", "oracle": "oracle"}


def url_build(spec: ConnectionSpec) -> URL:
    """The SQLAlchemy URL of a connection: settings host, port, database (for
    Oracle: service_name), options per dialect (PostgreSQL sslmode, MySQL ssl,
    SQL Server driver and encrypt); credentials user/username and password."""
    drivername, default_port = DRIVERS[spec.kind]
    s, c = spec.settings, spec.credentials
    query: dict[str, str] = {}
    database = s.get("database") or None
    if spec.kind == "postgresql" and s.get("sslmode"):
        query["sslmode"] = str(s["sslmode"])
    if spec.kind == "mssql":
        query["driver"] = str(s.get("odbc_driver") or "ODBC Driver 18 for SQL Server")
        query["Encrypt"] = "yes" if s.get("encrypt", True) else "no"
        if s.get("trust_server_certificate"):
            query["TrustServerCertificate"] = "yes"
    if spec.kind == "oracle" and s.get("service_name"):
        query["service_name"] = str(s["service_name"])
        database = None
    return URL.create(
        drivername,
        username=c.get("username") or s.get("username") or None,
        password=c.get("password") or None,
        host=s.get("host") or None,
        port=int(s.get("port") or default_port),
        database=database,
        query=query,
    )


def _connect_args(kind: str) -> dict[str, Any]:
    connect, read = settings.SOURCES_CONNECT_TIMEOUT_SECONDS, settings.SOURCES_READ_TIMEOUT_SECONDS
    if kind == "postgresql":
        return {"connect_timeout": max(1, int(connect)), "application_name": "analytics-engine"}
    if kind == "mysql":
        return {"connect_timeout": connect, "read_timeout": read, "write_timeout": read}
    if kind == "mssql":
        return {"timeout": int(connect)}
    return {}


def engine_for(spec: ConnectionSpec) -> Engine:
    """An engine without a pool: each operation opens and closes its own
    connection (sources are read now and then, not held open)."""
    return sa.create_engine(url_build(spec), poolclass=NullPool, connect_args=_connect_args(spec.kind))


def _read_only(conn: Connection, kind: str) -> None:
    """A read-only transaction, in a UTC session: every moment with a zone
    (PostgreSQL timestamptz, MySQL TIMESTAMP) comes back in UTC, whatever the
    server's own zone, as the platform stores them. A source query's own
    arithmetic on such moments (date_trunc, ::date) happens in UTC too
    (docs/sources.md). For PostgreSQL it also lets psycopg build each moment
    with a fixed offset instead of looking the server's zone up per value:
    about a quarter of a run's time (bench/sources.py)."""
    if kind == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    elif kind == "mysql":
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        conn.exec_driver_sql("SET SESSION time_zone = '+00:00'")


def object_table(name: str) -> sa.TableClause:
    """A table clause for "table" or "schema.table" (quoted by the dialect)."""
    schema, _, table = name.rpartition(".")
    return sa.table(table, schema=schema or None)


def _selectable(request: ExtractRequest) -> sa.FromClause:
    if request.source_query:
        return sa.text(request.source_query).columns().subquery("source_query")
    return object_table(request.source_object)


def extract_statement(request: ExtractRequest) -> sa.Select:
    """SELECT the columns (all when none are named) of the object or query,
    after the watermark when one is given, in watermark order."""
    source = _selectable(request)
    columns = [sa.column(name) for name in request.columns] or [sa.literal_column("*")]
    statement = sa.select(*columns).select_from(source)
    if request.watermark_column:
        mark = sa.column(request.watermark_column)
        if request.watermark_after is not None:
            statement = statement.where(mark > sa.bindparam("watermark_after", request.watermark_after))
        statement = statement.order_by(mark)
    if request.limit is not None:
        statement = statement.limit(request.limit)
    return statement


def select_query_check(kind: str, query: str) -> None:
    """A job's or a preview's query must be ONE SELECT (a UNION or a WITH
    of SELECTs included) in the source's dialect: no data change or DDL,
    even inside a CTE, no `SELECT ... INTO`, no `FOR UPDATE`/`LOCK IN SHARE
    MODE`. SourceError 400 `invalid_query` naming what is wrong."""

    def refuse(why: str) -> SourceError:
        return SourceError(f"The query {why}.", stage="query", code="invalid_query", details={"query": query})

    if not isinstance(query, str) or not query.strip():
        raise refuse("is empty")
    try:
        statements = [s for s in sqlglot.parse(query, read=SQLGLOT_DIALECTS.get(kind)) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise refuse(f"could not be parsed: {str(exc).splitlines()[0][:200]}") from None
    if len(statements) != 1:
        raise refuse(f"must be one SELECT statement, not {len(statements)} statements")
    (statement,) = statements
    if not isinstance(statement, exp.Query):
        raise refuse(f"must be a SELECT, not {statement.key.upper()}")
    for node in statement.walk():
        if isinstance(node, exp.DML | exp.DDL | exp.Command | exp.Set | exp.Drop | exp.Alter):
            raise refuse(f"must only read: it contains {node.key.upper()}")
        if isinstance(node, exp.Into):
            raise refuse("must not SELECT ... INTO a table")
        if isinstance(node, exp.Lock):
            raise refuse("must not lock rows (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE)")


# -- what failed, in words a user can act on ---------------------------------

_PG_AUTH = ("28P01", "28000")
_PG_UNKNOWN_DATABASE = "3D000"
_PG_PERMISSION = "42501"
_PG_UNKNOWN_OBJECT = ("42P01", "3F000")
_PG_UNKNOWN_COLUMN = "42703"
_MYSQL_AUTH = (1045, 1698)
_MYSQL_DB_DENIED = 1044
_MYSQL_UNKNOWN_DATABASE = 1049
_MYSQL_PERMISSION = (1142, 1143, 1227)
_MYSQL_UNKNOWN_OBJECT = 1146
_MYSQL_UNKNOWN_COLUMN = 1054
_MYSQL_CANT_CONNECT = (2003, 2002)
_MYSQL_UNKNOWN_HOST = 2005
_MYSQL_LOST = (2006, 2013)
_MYSQL_TLS = (2026, 3159)


def _where(spec: ConnectionSpec) -> str:
    return f"{spec.settings.get('host')}:{spec.settings.get('port') or DRIVERS[spec.kind][1]}"


def _user(spec: ConnectionSpec) -> str:
    return str(spec.credentials.get("username") or spec.settings.get("username") or "")


def _database(spec: ConnectionSpec) -> str:
    return str(spec.settings.get("database") or spec.settings.get("service_name") or "")


def _scrub(text: str, spec: ConnectionSpec) -> str:
    for key, secret in spec.credentials.items():
        if key not in ("username", "user") and isinstance(secret, str) and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


# libpq reports a failed connection without its SQLSTATE (there is no result
# to read it from): only the server's FATAL message, in English unless the
# server's lc_messages says otherwise. These stand in for the codes there.
_PG_CONNECT_MESSAGES = (
    ("password authentication failed", "28P01"),
    ("no pg_hba.conf entry", "28000"),
    ('role "', "28000"),  # role "x" does not exist
    ("permission denied for database", "42501"),
    ("does not exist", "3D000"),  # database "x" does not exist
)


def _connect_sqlstate(kind: str, text: str) -> str | None:
    if kind == "postgresql" and "no password supplied" in text:  # libpq's own: the server asked for one
        return "28P01"
    if kind != "postgresql" or "fatal:" not in text:
        return None
    return next((code for needle, code in _PG_CONNECT_MESSAGES if needle in text), None)


def source_error(exc: BaseException, spec: ConnectionSpec) -> SourceError:
    """The SourceError for a driver's error: by SQLSTATE (psycopg) or MySQL
    error number, by the message only where the driver gives no code (a
    refused or timed-out connection, TLS). Never the password."""
    if isinstance(exc, SourceError):
        return exc
    original = getattr(exc, "orig", None) or exc
    text = str(original).lower()
    sqlstate = getattr(original, "sqlstate", None) or _connect_sqlstate(spec.kind, text)
    number = original.args[0] if spec.kind == "mysql" and original.args and isinstance(original.args[0], int) else None
    user, database, where = _user(spec), _database(spec), _where(spec)

    def error(message: str, stage: str, code: str) -> SourceError:
        return SourceError(_scrub(message, spec), stage=stage, code=code)

    if sqlstate in _PG_AUTH or number in _MYSQL_AUTH:
        return error(
            f"Authentication failed for user {user!r}: check the user name and password.",
            "auth",
            "authentication_failed",
        )
    if sqlstate == _PG_UNKNOWN_DATABASE or number == _MYSQL_UNKNOWN_DATABASE:
        return error(
            f"The database {database!r} does not exist on {where}: check its name.", "connect", "unknown_database"
        )
    if number == _MYSQL_DB_DENIED or (sqlstate == _PG_PERMISSION and "database" in text and "connect" in text):
        return error(
            f"User {user!r} may not connect to the database {database!r}: ask its administrator to grant access "
            "(CONNECT on PostgreSQL, privileges on the database on MySQL).",
            "permission",
            "permission_denied",
        )
    if sqlstate == _PG_PERMISSION or number in _MYSQL_PERMISSION:
        return error(
            f"User {user!r} may not read this: {_short(exc)}. Ask the database's administrator to grant SELECT.",
            "permission",
            "permission_denied",
        )
    if sqlstate in _PG_UNKNOWN_OBJECT or number == _MYSQL_UNKNOWN_OBJECT:
        return error(f"The source has no such table or view: {_short(exc)}.", "query", "unknown_object")
    if sqlstate == _PG_UNKNOWN_COLUMN or number == _MYSQL_UNKNOWN_COLUMN:
        return error(f"The source has no such column: {_short(exc)}.", "query", "unknown_column")
    if number == _MYSQL_UNKNOWN_HOST or "could not translate host name" in text or "name or service not known" in text:
        return error(f"The host of {where} could not be found (DNS): check its spelling.", "dns", "host_not_found")
    if number in _MYSQL_TLS or (sqlstate is None and ("ssl" in text or "tls" in text or "certificate" in text)):
        return error(
            f"The TLS handshake with {where} failed: {_short(exc)}. Check the connection's sslmode and the "
            "server's certificate.",
            "tls",
            "tls_failed",
        )
    answered = (sqlstate is not None and not sqlstate.startswith(("08", "57P"))) or (
        number is not None and not 2000 <= number < 3000
    )
    if answered:  # a server's error (MySQL's own client errors are 2000-2999): an answer, not the network
        return error(f"The source answered with an error: {_short(exc)}.", "query", "source_error")
    if "timeout" in text or "timed out" in text:
        return error(
            f"No answer from {where} within {settings.SOURCES_CONNECT_TIMEOUT_SECONDS:g} s: a firewall may be "
            "dropping the connection, or the host is down.",
            "connect",
            "connection_timeout",
        )
    if number in _MYSQL_CANT_CONNECT or "connection refused" in text:
        return error(
            f"The connection to {where} was refused: nothing listens on that port (is the database running, is "
            "the port right?).",
            "connect",
            "connection_refused",
        )
    # 57P01-57P03: the server ended the session (shut down, restarted, its backend terminated).
    lost = number in _MYSQL_LOST or (sqlstate or "").startswith(("08", "57P"))
    if lost or (sqlstate is None and "connection" in text):
        return error(f"The connection to {where} failed or was lost: {_short(exc)}.", "connect", "connection_lost")
    return error(f"The source answered with an error: {_short(exc)}.", "query", "source_error")


# -- reading -------------------------------------------------------------------


def _probe(conn: Connection, spec: ConnectionSpec, request: ExtractRequest) -> list[str]:
    """The columns of the object or query, read before any row (LIMIT 0):
    an unknown object answers here, and a column the request names that the
    source no longer has fails as SchemaChanged naming it."""
    probe = sa.select(sa.literal_column("*")).select_from(_selectable(request)).limit(0)
    try:
        keys = [str(k) for k in conn.execute(probe).keys()]  # noqa: SIM118  (a Result, not a dict)
    except sa.exc.DBAPIError as exc:
        if source_error(exc, spec).code == "unknown_object":
            name = request.source_object or "the query"
            raise SourceError(
                f"The source has no table or view {name!r} (or this user cannot see it): discover the "
                "connection again to see its objects.",
                stage="query",
                code="unknown_object",
                details={"object": request.source_object},
            ) from None
        raise
    named = (*request.columns, *([request.watermark_column] if request.watermark_column else ()))
    missing = [c for c in dict.fromkeys(named) if c not in keys]
    if missing:
        where = repr(request.source_object) if request.source_object else "the query"
        raise SchemaChanged(
            f"The source {where} no longer has the column(s) {', '.join(map(repr, missing))}: it changed since it "
            "was discovered; update the job's mapping or the source.",
            stage="query",
            code="schema_changed",
            details={"columns": missing, "object": request.source_object},
        )
    _retyped_check(conn, request)
    return keys


def _retyped_check(conn: Connection, request: ExtractRequest) -> None:
    """A column the request reads whose type is no longer the one discovery
    recorded (a date become text, say) fails as SchemaChanged naming it,
    before any row is read."""
    if not request.expected_types or not request.source_object:
        return
    schema, _, table = request.source_object.rpartition(".")
    now = {
        column["name"]: ontology_type(column["type"]) for column in sa.inspect(conn).get_columns(table, schema or None)
    }
    retyped = {
        name: (expected, now[name])
        for name, expected in request.expected_types.items()
        if name in now and now[name] != expected
    }
    if retyped:
        described = ", ".join(f"{name!r} ({was} -> {is_})" for name, (was, is_) in retyped.items())
        raise SchemaChanged(
            f"The source {request.source_object!r} retyped column(s) {described} since it was discovered: discover "
            "it again and check the job's mapping.",
            stage="query",
            code="schema_changed",
            details={"retyped": {name: {"discovered": was, "now": is_} for name, (was, is_) in retyped.items()}},
        )


def _stream_cursor(conn: Connection, kind: str) -> Any:
    """A DBAPI cursor of the connection that streams: psycopg's named
    (server-side) cursor, PyMySQL's SSCursor; other drivers stream through
    fetchmany. Rows come as plain tuples, without SQLAlchemy's Row objects
    (measured at 2-5x the driver's own cost per row; docs/benchmarks.md)."""
    raw = conn.connection.driver_connection
    if kind == "postgresql":
        return raw.cursor(name=f"ae_extract_{uuid.uuid4().hex[:12]}")
    if kind == "mysql":
        import pymysql.cursors

        return raw.cursor(pymysql.cursors.SSCursor)
    return raw.cursor()


def _batches(engine: Engine, spec: ConnectionSpec, request: ExtractRequest, batch_size: int) -> Iterator[Any]:
    """First the source's column names (probed), then batches of rows: the
    statement is compiled by the dialect (quoting, the bound watermark) and
    run on the driver's own streaming cursor, in the read-only transaction."""
    with engine.connect() as conn:
        _read_only(conn, spec.kind)
        yield _probe(conn, spec, request)
        compiled = extract_statement(request).compile(dialect=conn.dialect)
        params = compiled.params
        if compiled.positional:
            params = tuple(params[name] for name in compiled.positiontup or ())
        dbapi_error = conn.dialect.loaded_dbapi.Error
        cursor = _stream_cursor(conn, spec.kind)
        try:
            cursor.execute(str(compiled), params)
            fields = tuple(str(column[0]) for column in cursor.description)
            while rows := cursor.fetchmany(batch_size):
                batch = RecordBatch(fields, rows)
                yield batch if request.as_tuples else batch.records()
        except dbapi_error as exc:  # as SQLAlchemy would have raised it: source_error reads it
            raise sa.exc.DBAPIError.instance(str(compiled), params, exc, dbapi_error) from exc
        finally:
            with contextlib.suppress(Exception):
                cursor.close()


@adapter_register("postgresql", "mysql", "mssql", "oracle")
class SQLAdapter(Adapter):
    def _error(self, exc: BaseException) -> SourceError:
        return source_error(exc, self.spec)

    def _check_request(self, request: ExtractRequest) -> None:
        if bool(request.source_object) == bool(request.source_query):
            raise SourceError(
                "Name either a source object (a table or view) or a query, not both or neither.",
                code="invalid_source",
            )
        if request.source_query:
            select_query_check(self.spec.kind, request.source_query)

    def test(self) -> TestOutcome:
        """Where reaching the source stops: DNS (and the destination rule),
        the TCP connection, TLS, authentication, the database and its
        permission, then a trivial query."""
        settings_ = self.spec.settings
        try:
            destination_check(
                str(settings_.get("host") or ""), int(settings_.get("port") or DRIVERS[self.spec.kind][1])
            )
            engine = engine_for(self.spec)
            try:
                with engine.connect() as conn:
                    _read_only(conn, self.spec.kind)
                    conn.execute(sa.text("SELECT 1" if self.spec.kind != "oracle" else "SELECT 1 FROM DUAL")).scalar()
                    version = conn.dialect.server_version_info or ()
            finally:
                engine.dispose()
        except SourceError as exc:
            return TestOutcome(ok=False, stage=exc.stage, message=exc.message)
        except sa.exc.SQLAlchemyError as exc:
            error = self._error(exc)
            return TestOutcome(ok=False, stage=error.stage, message=error.message)
        shown = ".".join(str(v) for v in version[:2])
        label = DRIVERS_LABEL[self.spec.kind] + (f" {shown}" if shown else "")
        return TestOutcome(
            ok=True,
            stage="query",
            message=f"Connected to {label} at {_where(self.spec)}, "
            f"database {_database(self.spec)!r}, as {_user(self.spec)!r}; a test query ran.",
        )

    def _schemas(self, inspector: Inspector) -> list[str | None]:
        extra = [s for s in self.spec.settings.get("schemas") or [] if s != inspector.default_schema_name]
        return [None, *extra]

    def discover(self) -> list[SourceObject]:
        """Tables and views of the default schema and of the settings'
        `schemas`: columns (ontology type, source type, nullability) and
        primary keys, read by SQLAlchemy's inspector."""
        engine = engine_for(self.spec)
        try:
            with engine.connect() as conn:
                inspector = sa.inspect(conn)
                objects: list[SourceObject] = []
                for schema in self._schemas(inspector):
                    objects.extend(self._objects(inspector, conn.dialect, schema))
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from None
        finally:
            engine.dispose()
        return sorted(objects, key=lambda o: o.name)

    def _objects(self, inspector: Inspector, dialect, schema: str | None) -> list[SourceObject]:
        views = set(inspector.get_view_names(schema=schema))
        names = [*inspector.get_table_names(schema=schema), *sorted(views)]
        objects = []
        for table in names:
            try:
                columns = inspector.get_columns(table, schema=schema)
                keys = set((inspector.get_pk_constraint(table, schema=schema) or {}).get("constrained_columns") or ())
            except sa.exc.NoSuchTableError:
                continue  # dropped while we looked
            objects.append(
                SourceObject(
                    name=f"{schema}.{table}" if schema else table,
                    kind="view" if table in views else "table",
                    columns=tuple(
                        SourceColumn(
                            name=str(c["name"]),
                            type=ontology_type(c["type"]),
                            nullable=bool(c.get("nullable", True)),
                            primary_key=c["name"] in keys,
                            source_type=type_spelling(c["type"], dialect),
                        )
                        for c in columns
                    ),
                )
            )
        return objects

    def preview(self, *, source_object: str = "", source_query: str = "", limit: int) -> Preview:
        """The first `limit` rows, JSON-ready, and the columns typed from the
        result's description (`description_types`)."""
        request = ExtractRequest(source_object=source_object, source_query=source_query, limit=limit, batch_size=limit)
        self._check_request(request)
        engine = engine_for(self.spec)
        try:
            with engine.connect() as conn:
                _read_only(conn, self.spec.kind)
                _probe(conn, self.spec, request)  # an unknown object named in words
                result = conn.execute(extract_statement(request))
                types = description_types(result.cursor, conn.dialect)
                keys = [str(k) for k in result.keys()]  # noqa: SIM118  (a Result, not a dict)
                rows = [{k: json_ready(v) for k, v in row.items()} for row in result.mappings()]
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from None
        finally:
            engine.dispose()
        columns = tuple(SourceColumn(name=k, type=t) for k, t in zip(keys, types, strict=False))
        return Preview(columns=columns, rows=rows)

    def extract(self, request: ExtractRequest) -> Extraction:
        self._check_request(request)
        engine = engine_for(self.spec)
        batches = _batches(engine, self.spec, request, max(1, request.batch_size))
        try:
            keys = next(batches)
            first = next(batches, None)
        except sa.exc.SQLAlchemyError as exc:
            batches.close()
            engine.dispose()
            raise self._error(exc) from None
        except SourceError:
            batches.close()
            engine.dispose()
            raise

        def stream() -> Iterator[list[dict[str, Any]]]:
            if first is not None:
                yield first
            try:
                yield from batches
            except sa.exc.SQLAlchemyError as exc:
                raise self._error(exc) from None

        columns = tuple(SourceColumn(name=k, type="string") for k in keys)
        return Extraction(columns=columns, batches=stream(), closers=[engine.dispose, batches.close])


DRIVERS_LABEL = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "mssql": "SQL Server", "oracle": "Oracle"}


def _short(exc: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's boilerplate or the
    statement (which may carry bound values)."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0][:300] if str(original).strip() else type(original).__name__
