"""Arrow schema of an archived table, row batches to Arrow, and the key-column
checksum that extraction and verification both compute.

Types (platform type -> Arrow):
string -> string, integer -> int64, decimal -> decimal128(38, 10) (or string,
see `decimal_fits`), double -> float64, boolean -> bool, date -> date32,
timestamp -> timestamp('us', tz='UTC'), json -> string (the JSON text).
A `timestamp without time zone` column (tables made outside the ontology, or
loaded as downloaded) -> timestamp('us') without a zone: its values are wall
clock times and stay so. Any other type we never create is archived as its
text (string)."""

import hashlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from apps.warehouse.selectors import ColumnInfo

DECIMAL_TYPE = pa.decimal128(38, 10)
# decimal128(38, 10) holds 28 integer digits and 10 fractional ones. A chunk
# whose numeric values do not all fit (more scale, larger, NaN) keeps that
# column as text, exactly as PostgreSQL prints it: nothing is rounded.
DECIMAL_LIMIT = "1e28"

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": DECIMAL_TYPE,
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "json": pa.string(),
}
# PostgreSQL types that are no platform type but keep a typed Arrow column
# (information_schema names): the time column of a hypertable must stay a time.
PG_ARROW_TYPES = {
    "timestamp without time zone": ("timestamp", pa.timestamp("us")),
}


@dataclass(frozen=True)
class ArchiveColumn:
    name: str
    data_type: str  # platform type; "text" for unknown
    arrow_type: pa.DataType

    @property
    def as_text(self) -> bool:
        """Selected as `::text` (json, decimals out of range, unknown types)."""
        return pa.types.is_string(self.arrow_type) and self.data_type != "string"

    def select_expr(self) -> sql.Composable:
        ident = sql.Identifier(self.name)
        return sql.SQL("{}::text").format(ident) if self.as_text else ident


def archive_columns(columns: list[ColumnInfo], *, decimals_as_text: set[str] = frozenset()) -> list[ArchiveColumn]:
    result = []
    for column in columns:
        if column.pg_type in PG_ARROW_TYPES:
            data_type, arrow_type = PG_ARROW_TYPES[column.pg_type]
        else:
            data_type = column.data_type or "text"
            arrow_type = ARROW_TYPES.get(data_type, pa.string())
        if column.name in decimals_as_text:
            arrow_type = pa.string()
        result.append(ArchiveColumn(column.name, data_type, arrow_type))
    return result


def arrow_schema(columns: list[ArchiveColumn]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])


def rows_to_table(rows: list[tuple], columns: list[ArchiveColumn], schema: pa.Schema) -> pa.Table:
    """One fetched batch (tuples in column order) as an Arrow table."""
    arrays = [pa.array(values, type=c.arrow_type) for values, c in zip(zip(*rows, strict=True), columns, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def key_columns(columns: list[ArchiveColumn], *, time_column: str) -> list[str]:
    """The columns the checksum covers: the time column, then the first string
    column when there is one (usually the entity's business key)."""
    keys = [time_column]
    first_string = next((c.name for c in columns if c.data_type == "string" and c.name != time_column), None)
    if first_string:
        keys.append(first_string)
    return keys


def time_integers(column: pa.Array) -> pa.Array:
    """A date or timestamp column as int64 (days or microseconds since the
    epoch). Arrow casts date32 only to its own width (int32): straight to int64
    it raises "Unsupported cast from date32[day] to int64"."""
    if pa.types.is_date32(column.type):
        return column.cast(pa.int32()).cast(pa.int64())
    return column.cast(pa.int64())


class KeyChecksum:
    """SHA-256 of the key columns, one digest per column fed in row order, so
    the result does not depend on how rows were batched. Times hash as their
    integer value (microseconds or days since the epoch), strings as their lengths
    (-1 for null) and their UTF-8 bytes."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        # Two streams per key (values, and lengths for strings): each fed in row order.
        self._hashes = {(key, part): hashlib.sha256() for key in keys for part in ("values", "lengths")}
        self.rows = 0

    def update(self, table: pa.Table | pa.RecordBatch) -> None:
        if not table.num_rows:
            return
        self.rows += table.num_rows
        for key in self.keys:
            column = table.column(key)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            digest, lengths_digest = self._hashes[key, "values"], self._hashes[key, "lengths"]
            if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
                integers = time_integers(column).fill_null(-(2**63))
                start = integers.offset * 8  # the values buffer, native (little-endian) int64
                digest.update(integers.buffers()[1].to_pybytes()[start : start + len(integers) * 8])
            else:
                # Lengths (-1 for null) then the UTF-8 bytes: straight from the Arrow buffers.
                text = column if pa.types.is_string(column.type) else column.cast(pa.string())
                lengths = pc.binary_length(text).fill_null(-1).cast(pa.int32())
                start = lengths.offset * 4
                lengths_digest.update(lengths.buffers()[1].to_pybytes()[start : start + len(lengths) * 4])
                filled = text.fill_null("")
                offsets = filled.buffers()[1]
                first = int.from_bytes(offsets.slice(filled.offset * 4, 4).to_pybytes(), "little", signed=True)
                last = int.from_bytes(
                    offsets.slice((filled.offset + len(filled)) * 4, 4).to_pybytes(), "little", signed=True
                )
                if last > first:  # (an all-empty batch may have no data buffer)
                    digest.update(filled.buffers()[2].slice(first, last - first))

    def hexdigest(self) -> str:
        combined = hashlib.sha256()
        for key in self.keys:
            combined.update(key.encode() + b"=")
            combined.update(self._hashes[key, "lengths"].digest() + self._hashes[key, "values"].digest())
        return combined.hexdigest()
