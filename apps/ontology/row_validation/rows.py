"""Validation of a whole load: rows in, valid tuples out, rejections noted."""

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from apps.core.errors import AppError
from apps.ontology.models import DataType, EntityDefinition
from apps.ontology.row_validation.columns import column_check
from apps.ontology.row_validation.converters import (
    ROW_ERROR_KEY,
    AttributeRule,
    Converter,
    _Invalid,
    _shown,
    csv_converter,
    json_converter,
)
from apps.ontology.row_validation.options import DEFAULT_OPTIONS, LoadOptions, invalid_parameter
from apps.ontology.types.loads import ColumnBatch

# --- Validation of a whole load ---------------------------------------------


def _row_converter(
    converters: Sequence[Converter], arguments: Sequence[str], *, parameter: str, prelude: str = ""
) -> Callable:
    """`def convert(<parameter>): <prelude>; return (c0(<arguments[0]>), c1(...), ...)`.
    Generated (as dataclasses and namedtuple generate their methods) because
    it is the hot loop's body: measured about a third faster per row than
    `tuple(map(operator.call, converters, map(row.get, codes)))`. The
    arguments are expressions built here from `repr()`ed attribute codes
    (validated identifiers) and integer indexes: no user text is compiled."""
    names = [f"c{i}" for i in range(len(converters))]
    calls = "".join(f"{name}({argument}), " for name, argument in zip(names, arguments, strict=True))
    source = f"def convert({parameter}):\n    {prelude or 'pass'}\n    return ({calls})\n"
    namespace: dict[str, Any] = dict(zip(names, converters, strict=True))
    exec(source, namespace)  # noqa: S102 - see the docstring: only our own expressions
    return namespace["convert"]


class ValidationRun:
    """One pass over a load's rows. Iterate it (once) for the valid rows as
    tuples in `columns` order; afterwards it holds the rejected rows (the
    first `max_reported` in detail), the count accepted and the time range."""

    def __init__(self, *, columns: Sequence[str], data_types: Sequence[str], max_reported: int) -> None:
        self.columns = list(columns)
        self.data_types = list(data_types)
        self.rejected: list[dict[str, Any]] = []
        self.rejected_count = 0
        self.accepted = 0
        self.time_min: datetime | None = None
        self.time_max: datetime | None = None
        self.rows: Iterator[tuple] = iter(())  # the validating generator, set by RowValidator
        self._max_reported = max_reported

    def __iter__(self) -> Iterator[tuple]:
        return self.rows

    def reject(self, index: int, errors: dict[str, str], **extra: Any) -> None:
        self.rejected_count += 1
        if len(self.rejected) < self._max_reported:
            self.rejected.append({"row": index, **extra, "errors": errors})

    def time_range_set(self, earliest: Any, latest: Any) -> None:
        self.time_min, self.time_max = _as_moment(earliest), _as_moment(latest)


def _as_moment(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=UTC)


# Bounds the first row's time always replaces.
_TIME_SENTINELS = {
    DataType.TIMESTAMP: (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)),
    DataType.DATE: (date.max, date.min),
}


class RowValidator:
    """Converters for one entity's attributes, built once per load."""

    def __init__(
        self,
        rules: Sequence[AttributeRule],
        *,
        time_attribute: str | None = None,
        options: LoadOptions = DEFAULT_OPTIONS,
    ) -> None:
        self.rules = list(rules)
        self.by_code = {rule.code: rule for rule in self.rules}
        self.codes = tuple(self.by_code)
        self.time_attribute = time_attribute or None
        self.options = options
        self._known = frozenset(self.codes)
        self._renames = options.renames
        self.renames_check()
        self.options_check()
        self._json = tuple(json_converter(rule, options) for rule in self.rules)
        self._json_row = _row_converter(
            self._json, [f"get({code!r})" for code in self.codes], parameter="row", prelude="get = row.get"
        )
        self._column_checks = tuple(
            column_check(rule, convert) for rule, convert in zip(self.rules, self._json, strict=True)
        )

    @classmethod
    def for_entity(cls, entity: EntityDefinition, options: LoadOptions = DEFAULT_OPTIONS) -> "RowValidator":
        rules = [
            AttributeRule(a.code, a.data_type, a.nullable, tuple(a.enum_values or ())) for a in entity.attributes.all()
        ]
        is_series = entity.kind == EntityDefinition.Kind.TIME_SERIES
        return cls(rules, time_attribute=entity.time_attribute if is_series else None, options=options)

    def options_check(self) -> None:
        """Refuse (400) a reading parameter this entity has no attribute for:
        `date_format` on an entity of timestamps is a mistake that would
        otherwise show only as every row rejected."""
        applies = {
            "date_format": (self.options.date_format is not None, DataType.DATE),
            "timestamp_format": (self.options.timestamp_format is not None, DataType.TIMESTAMP),
            "timezone": (self.options.timezone is not None, DataType.TIMESTAMP),
            "decimal": (self.options.decimal != ".", DataType.DECIMAL),
        }
        for parameter, (given, data_type) in applies.items():
            if given and not any(rule.data_type == data_type for rule in self.rules):
                others = ", ".join(f"{rule.code} ({rule.data_type})" for rule in self.rules)
                value = getattr(self.options, parameter)
                raise invalid_parameter(
                    parameter,
                    getattr(value, "key", value),
                    f"applies to {data_type} attributes, and this entity has none: {others}.",
                )

    def renames_check(self) -> None:
        """Refuse (400) a `map` onto an attribute the entity does not have."""
        unknown = [attribute for attribute in self._renames.values() if attribute not in self._known]
        if unknown:
            text = ",".join(f"{header}:{attribute}" for header, attribute in self.options.rename)
            raise invalid_parameter(
                "map",
                text,
                f"maps onto {unknown[0]!r}, which is not an attribute; this entity has: {', '.join(self.codes)}.",
                unknown_attributes=unknown,
                attributes=list(self.codes),
            )

    # JSON ---------------------------------------------------------------

    def json_rows(self, rows: Iterable[Mapping[str, Any]], *, max_reported: int = 1000) -> ValidationRun:
        """Validate JSON rows (objects) lazily: iterate the run for the valid ones."""
        run = ValidationRun(
            columns=self.codes,
            data_types=[rule.data_type for rule in self.rules],
            max_reported=max_reported,
        )
        run.rows = self._json_iter(rows, run)
        return run

    def batches(
        self, batches: Iterable[ColumnBatch | Sequence[Mapping[str, Any]]], *, max_reported: int = 1000
    ) -> ValidationRun:
        """Validate rows that come in batches (an ingestion job's), lazily:
        each batch a list of row objects or a `ColumnBatch`, whose columns are
        checked whole (columns.py) and which goes row by row only when a
        column cannot be vouched for. Row indexes count across batches."""
        run = ValidationRun(
            columns=self.codes,
            data_types=[rule.data_type for rule in self.rules],
            max_reported=max_reported,
        )
        run.rows = self._batches_iter(batches, run)
        return run

    def _json_iter(self, rows: Iterable[Mapping[str, Any]], run: ValidationRun) -> Iterator[tuple]:
        return self._batches_iter((rows,), run)

    def _columns_checked(self, batch: ColumnBatch) -> list[Sequence[Any]] | None:
        """The batch's stored columns in `codes` order, or None (row by row)."""
        if self._renames or not batch.columns.keys() <= self._known:
            return None
        nulls = (None,) * batch.size
        stored = []
        for code, check in zip(self.codes, self._column_checks, strict=True):
            column = check(batch.columns.get(code, nulls))
            if column is None:
                return None
            stored.append(column)
        return stored

    def _batches_iter(self, batches: Iterable[Any], run: ValidationRun) -> Iterator[tuple]:
        convert_row, known = self._json_row, self._known
        time_index = self.codes.index(self.time_attribute) if self.time_attribute else None
        earliest, latest = self._time_sentinels()
        accepted = index = 0
        for batch in batches:
            if type(batch) is ColumnBatch:
                stored = self._columns_checked(batch) if batch.size else []
                if stored is not None:
                    if batch.size:
                        if time_index is not None:
                            moments = [m for m in stored[time_index] if m is not None]
                            if moments:
                                earliest, latest = min(earliest, min(moments)), max(latest, max(moments))
                        yield from zip(*stored, strict=True)
                    accepted += batch.size
                    index += batch.size
                    continue
                batch = batch.rows()
            if self._renames:
                batch = map(self._renamed, batch)  # the default path pays nothing for map
            for row in batch:
                try:
                    if not row.keys() <= known:
                        raise _Invalid
                    values = convert_row(row)
                except (_Invalid, AttributeError):
                    run.reject(index, self.json_row_errors(row))
                    index += 1
                    continue
                index += 1
                if time_index is not None:
                    moment = values[time_index]
                    if moment < earliest:
                        earliest = moment
                    if moment > latest:
                        latest = moment
                accepted += 1
                yield values
        run.accepted = accepted
        if accepted and time_index is not None:
            run.time_range_set(earliest, latest)

    def _renamed(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """A JSON row with its keys renamed by `map`; a row that gives an
        attribute twice (under its own name and a mapped one) is refused."""
        if not isinstance(row, Mapping):
            return row
        renames = self._renames
        out = {renames.get(key, key): value for key, value in row.items()}
        if len(out) != len(row):
            return _Clash(row, renames)
        return out

    def json_row_errors(self, row: Any) -> dict[str, str]:
        """Every problem in one JSON row, by attribute."""
        if not isinstance(row, Mapping):
            return {ROW_ERROR_KEY: f"Expected an object (attribute: value), got {_shown(row)}."}
        if isinstance(row, _Clash):
            return {ROW_ERROR_KEY: row.reason}
        errors = {
            str(key): f"Unknown attribute; this entity has: {', '.join(self.codes)}."
            for key in row
            if key not in self._known
        }
        for code, convert in zip(self.codes, self._json, strict=True):
            try:
                convert(row.get(code))
            except _Invalid as exc:
                errors[code] = str(exc)
        return errors

    # CSV ----------------------------------------------------------------

    def csv_columns(self, header: Sequence[str]) -> list[str]:
        """The attribute codes a CSV header names, in its order. Refuses (400)
        unknown, duplicate and empty column names, and a header without some
        non-nullable attribute, naming them all, before anything is read."""
        columns = [name.strip() for name in header]
        if columns:
            columns[0] = columns[0].lstrip("\ufeff").strip()  # a byte order mark left by Excel
        if self._renames:
            absent = [name for name in self._renames if name not in columns]
            if absent:
                raise invalid_parameter(
                    "map",
                    ",".join(f"{h}:{a}" for h, a in self.options.rename),
                    f"renames the column {absent[0]!r}, which the CSV header does not have; "
                    f"its columns are: {', '.join(columns)}.",
                    absent_columns=absent,
                    columns=columns,
                )
            columns = [self._renames.get(name, name) for name in columns]
        unknown = [name for name in columns if name and name not in self._known]
        duplicates = sorted({name for name in columns if name and columns.count(name) > 1})
        missing = [rule.code for rule in self.rules if not rule.nullable and rule.code not in columns]
        problems, details = [], {}
        if any(not name for name in columns):
            problems.append("the header has an empty column name")
            details["empty_columns"] = [i + 1 for i, name in enumerate(columns) if not name]
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
            details["unknown_columns"] = unknown
        if duplicates:
            problems.append(f"column(s) named twice: {', '.join(duplicates)}")
            details["duplicate_columns"] = duplicates
        if missing:
            problems.append(f"missing required (non-nullable) column(s) {', '.join(missing)}")
            details["missing_columns"] = missing
        if problems:
            details["attributes"] = list(self.codes)
            hint = self._delimiter_hint(header)
            if hint:
                details["hint"] = hint
            raise AppError(
                f"The CSV header does not match the entity: {'; '.join(problems)}. "
                f"Its attributes are: {', '.join(self.codes)}.{' ' + hint if hint else ''}",
                code="invalid_csv_header",
                details=details,
            )
        return columns

    def _delimiter_hint(self, header: Sequence[str]) -> str:
        """A header read as one column that another delimiter would split: the
        commonest first mistake with a downloaded file."""
        if len(header) != 1:
            return ""
        for name, delimiter in ((";", ";"), ("tab", "\t"), ("|", "|"), (",", ",")):
            if delimiter != self.options.delimiter and delimiter in header[0]:
                return f"The header is one column holding {name!r}: is the file separated by it? Add delimiter={name}."
        return ""

    def csv_rows(
        self,
        reader: "csv._reader",
        columns: Sequence[str],
        *,
        max_rows: int | None = None,
        max_reported: int = 1000,
    ) -> ValidationRun:
        """Validate the data rows of a CSV `reader` whose header named
        `columns` (see `csv_columns`); iterate the run for the valid ones.
        Blank lines are skipped. More than `max_rows` rows raises AppError
        (413) while iterating."""
        run = ValidationRun(
            columns=columns,
            data_types=[self.by_code[c].data_type for c in columns],
            max_reported=max_reported,
        )
        run.rows = self._csv_iter(reader, columns, run, max_rows)
        return run

    def _csv_iter(
        self, reader: "csv._reader", columns: Sequence[str], run: ValidationRun, max_rows: int | None
    ) -> Iterator[tuple]:
        converters = tuple(csv_converter(self.by_code[c], self.options) for c in columns)
        convert_cells = _row_converter(converters, [f"cells[{i}]" for i in range(len(columns))], parameter="cells")
        width = len(converters)
        time_index = columns.index(self.time_attribute) if self.time_attribute in columns else None
        earliest, latest = self._time_sentinels()
        limit = max_rows if max_rows is not None else -1
        accepted = index = 0
        try:
            for cells in reader:
                if len(cells) != width:
                    if not cells:
                        continue
                    if index == limit:
                        raise too_many_rows(limit)
                    run.reject(
                        index,
                        {ROW_ERROR_KEY: f"Expected {width} cells (one per header column), found {len(cells)}."},
                        line=reader.line_num,
                    )
                    index += 1
                    continue
                if index == limit:
                    raise too_many_rows(limit)
                try:
                    values = convert_cells(cells)
                except _Invalid:
                    run.reject(index, self._csv_row_errors(columns, converters, cells), line=reader.line_num)
                    index += 1
                    continue
                index += 1
                if time_index is not None:
                    moment = values[time_index]
                    if moment < earliest:
                        earliest = moment
                    if moment > latest:
                        latest = moment
                accepted += 1
                yield values
        except csv.Error as exc:
            raise AppError(
                f"The CSV could not be read at line {reader.line_num}: {exc}.",
                code="malformed_csv",
                details={"line": reader.line_num},
            ) from None
        run.accepted = accepted
        if accepted and time_index is not None:
            run.time_range_set(earliest, latest)

    @staticmethod
    def _csv_row_errors(columns: Sequence[str], converters: Sequence[Converter], cells: list[str]) -> dict[str, str]:
        errors = {}
        for code, convert, cell in zip(columns, converters, cells, strict=True):
            try:
                convert(cell)
            except _Invalid as exc:
                errors[code] = str(exc)
        return errors

    def _time_sentinels(self) -> tuple[Any, Any]:
        if not self.time_attribute:
            return None, None
        return _TIME_SENTINELS[self.by_code[self.time_attribute].data_type]


class _Clash(dict):
    """A JSON row that `map` would give one attribute twice: rejected whole.
    Its one key, `_row`, is never an attribute, so the row fails the known
    keys test of the hot loop without a test of its own."""

    def __init__(self, row: Mapping[str, Any], renames: Mapping[str, str]) -> None:
        given = [key for key in row if key in renames and renames[key] in row]
        self.reason = "; ".join(
            f"Both {key!r} (mapped to {renames[key]!r}) and {renames[key]!r} are given." for key in given
        )
        super().__init__({ROW_ERROR_KEY: self.reason})


def too_many_rows(limit: int, count: int | None = None) -> AppError:
    found = f" ({count})" if count is not None else ""
    return AppError(
        f"Too many rows{found}: at most {limit} per request; split the load.",
        code="too_many_rows",
        details={"max_rows": limit},
        status_code=413,
    )
