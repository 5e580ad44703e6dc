"""SQL sources through SQLAlchemy dialects: PostgreSQL (psycopg) and
MySQL/MariaDB (PyMySQL) tested against real servers; SQL Server (pyodbc) and
Oracle (python-oracledb) built to the same URLs and documented, their
drivers not installed here (docs/sources.md, "SQL Server and Oracle").

Extraction streams: a server-side cursor (psycopg's named cursor, PyMySQL's
SSCursor) read `batch_size` rows at a time, so memory stays flat whatever
the source's size. Identifiers go through the dialect's quoting, values are
bound; a query is one SELECT (sqlglot checks it) run read-only."""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from django.conf import settings
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import NullPool

from apps.connectors.adapters import adapter_register
from apps.connectors.adapters.base import Adapter, ConnectionSpec
from apps.connectors.types import Extraction, ExtractRequest, SourceColumn, SourceError

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
    if kind == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    elif kind == "mysql":
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")


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


def _batches(engine: Engine, kind: str, statement: sa.Select, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    with engine.connect() as conn:
        _read_only(conn, kind)
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(statement)
        for partition in result.mappings().partitions(batch_size):
            yield [dict(row) for row in partition]


@adapter_register("postgresql", "mysql", "mssql", "oracle")
class SQLAdapter(Adapter):
    def extract(self, request: ExtractRequest) -> Extraction:
        engine = engine_for(self.spec)
        statement = extract_statement(request)
        batches = _batches(engine, self.spec.kind, statement, max(1, request.batch_size))
        try:
            first = next(batches, None)
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            raise SourceError(f"Reading from the source failed: {_short(exc)}", stage="query") from None

        def stream() -> Iterator[list[dict[str, Any]]]:
            if first is not None:
                yield first
            yield from batches

        columns = tuple(SourceColumn(name=str(k), type="string") for k in (first[0] if first else {}))
        return Extraction(columns=columns, batches=stream(), closers=[engine.dispose, batches.close])


def _short(exc: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's boilerplate or the
    statement (which may carry bound values)."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0][:300] if str(original).strip() else type(original).__name__
