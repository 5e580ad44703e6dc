"""SQL sources' types and values: SQLAlchemy's types (as the inspector
reflects them, or as a driver describes a result's columns) to the
ontology's, and source values made JSON-ready for previews
(docs/sources.md, "Schema discovery and preview")."""

import datetime as dt
import decimal
import uuid
from typing import Any

import sqlalchemy as sa

# SQLAlchemy's generic types -> the ontology's types, first match wins (a
# Boolean before the Integer some dialects derive it from).
# Anything else (TIME, INTERVAL, UUID, BYTEA, geometry, ...) reads as a string.
TYPE_MAP: tuple[tuple[type[sa.types.TypeEngine], str], ...] = (
    (sa.Boolean, "boolean"),
    (sa.Integer, "integer"),  # SmallInteger, BigInteger, dialect INT/TINYINT/...
    (sa.Numeric, "decimal"),  # DECIMAL, NUMERIC
    (sa.Float, "decimal"),  # REAL, DOUBLE PRECISION (not a Numeric since SQLAlchemy 2.1)
    (sa.DateTime, "timestamp"),  # TIMESTAMP, DATETIME, with or without time zone
    (sa.Date, "date"),
    (sa.JSON, "json"),  # JSON, JSONB
    (sa.ARRAY, "json"),
    (sa.String, "string"),  # VARCHAR, CHAR, TEXT, ENUM
)


def ontology_type(source_type: sa.types.TypeEngine | type[sa.types.TypeEngine]) -> str:
    """The ontology type of a SQLAlchemy type (an instance, as the inspector
    reflects it, or a class, as a dialect's `ischema_names` holds it)."""
    kind = source_type if isinstance(source_type, type) else type(source_type)
    for generic, ontology in TYPE_MAP:
        if issubclass(kind, generic):
            return ontology
    return "string"


# MySQL's wire type codes (pymysql.constants.FIELD_TYPE) -> the name the
# dialect's `ischema_names` knows the type by. BOOLEAN is TINYINT(1) there and
# MariaDB's JSON a LONGTEXT, so both read as the inspector reflects them.
_MYSQL_TYPE_CODES = {
    0: "decimal", 1: "tinyint", 2: "smallint", 3: "int", 4: "float", 5: "double", 7: "timestamp", 8: "bigint",
    9: "mediumint", 10: "date", 11: "time", 12: "datetime", 13: "year", 14: "date", 15: "varchar", 16: "bit",
    245: "json", 246: "decimal", 247: "enum", 248: "set", 249: "tinyblob", 250: "mediumblob", 251: "longblob",
    252: "blob", 253: "varchar", 254: "char",
}  # fmt: skip
# Drivers that describe a column by the Python type of its values (pyodbc).
_PYTHON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (decimal.Decimal, "decimal"),
    (float, "decimal"),
    (dt.datetime, "timestamp"),
    (dt.date, "date"),
)
# python-oracledb's DbType names.
_ORACLE_TYPES = {
    "DB_TYPE_NUMBER": "decimal", "DB_TYPE_BINARY_INTEGER": "integer", "DB_TYPE_BINARY_FLOAT": "decimal",
    "DB_TYPE_BINARY_DOUBLE": "decimal", "DB_TYPE_DATE": "timestamp", "DB_TYPE_TIMESTAMP": "timestamp",
    "DB_TYPE_TIMESTAMP_TZ": "timestamp", "DB_TYPE_TIMESTAMP_LTZ": "timestamp", "DB_TYPE_BOOLEAN": "boolean",
    "DB_TYPE_JSON": "json",
}  # fmt: skip


def _type_code_type(type_code: Any, cursor: Any, dialect) -> str:
    if isinstance(type_code, type):  # pyodbc
        return next((t for python, t in _PYTHON_TYPES if issubclass(type_code, python)), "string")
    if dialect.name == "postgresql" and isinstance(type_code, int):  # psycopg: the type's OID
        adapters = getattr(cursor, "adapters", None)
        info = adapters.types.get(type_code) if adapters is not None else None
        if info is None:
            return "string"  # a type of the database's own (an enum, a composite): text
        if info.oid != type_code:  # registered under its array's OID
            return "json"
        generic = dialect.ischema_names.get(info.regtype)
        return ontology_type(generic) if generic is not None else "string"
    if dialect.name in ("mysql", "mariadb") and isinstance(type_code, int):
        generic = dialect.ischema_names.get(_MYSQL_TYPE_CODES.get(type_code, ""))
        return ontology_type(generic) if generic is not None else "string"
    return _ORACLE_TYPES.get(str(getattr(type_code, "name", "")), "string")


def description_types(cursor: Any, dialect) -> list[str]:
    """The ontology type of each column of an executed DB-API cursor, from
    its `description`'s type codes (PostgreSQL OIDs, MySQL field types,
    pyodbc's Python types, oracledb's DbTypes) through the dialect's
    `ischema_names` and `ontology_type`, so a table previews with the types
    its discovery gives, and a query with those of its result. A type the
    driver does not say is "string"."""
    return [_type_code_type(column[1], cursor, dialect) for column in cursor.description or ()]


def json_ready(value: Any) -> Any:
    """A source value as JSON: dates and times ISO, decimals as strings (no
    float rounding), bytes as hex, UUIDs as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    return str(value)


def type_spelling(source_type: sa.types.TypeEngine, dialect) -> str:
    try:
        return source_type.compile(dialect=dialect)
    except Exception:  # a type the dialect cannot spell: its class name will do
        return type(source_type).__name__


__all__ = ["TYPE_MAP", "description_types", "json_ready", "ontology_type", "type_spelling"]
