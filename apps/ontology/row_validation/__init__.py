"""Validate an entity's rows against its attributes, fast enough to sit in
front of COPY (bench/ingest.py measures it).

A `RowValidator` is built once per entity: one converter per attribute, a
closure that takes a value and returns what the warehouse stores (a value the
binary COPY dumper of the column's type accepts) or raises `_Invalid` with a
reason a person can act on. There are two families:

- JSON converters take the Python values `json.loads` produces. Native types
  go straight through; strings are also read for numbers, booleans, dates and
  timestamps (`"12.50"` for a decimal keeps its precision). `null` and a
  missing key are NULL.
- CSV converters take cells (strings). An empty cell is NULL.

The per-row work is one generated function per entity (`_row_converter`):
`(c0(get("observed_at")), c1(get("series")), ...)`, with no loop over the
attributes. A row that fails is converted again, attribute by attribute, to
report every problem in it (the slow path only invalid rows pay for).

Rules (docs/loading-data.md):
- string: a string; within `enum_values` when the attribute has them.
- integer: a whole number in the bigint range; `12.0` and `"12"` are read as 12.
- decimal: a finite number (int, float, or a numeric string).
- boolean: true/false; strings true/false, t/f, yes/no, y/n, on/off, 1/0.
- date: an ISO 8601 date string (YYYY-MM-DD).
- timestamp: an ISO 8601 timestamp string; without an offset it means UTC.
- json: any JSON value; `null` is NULL.

`LoadOptions` (options.py) reads files as they come: strptime patterns for
dates and timestamps, the zone of naive timestamps, a decimal comma, header
renames.
"""

from apps.ontology.row_validation.converters import REQUIRED, ROW_ERROR_KEY, json_constant_reject
from apps.ontology.row_validation.options import DEFAULT_OPTIONS, LoadOptions
from apps.ontology.row_validation.rows import RowValidator, ValidationRun, too_many_rows

__all__ = [
    "DEFAULT_OPTIONS",
    "REQUIRED",
    "ROW_ERROR_KEY",
    "LoadOptions",
    "RowValidator",
    "ValidationRun",
    "json_constant_reject",
    "too_many_rows",
]
