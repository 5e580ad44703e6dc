"""What REST, GraphQL and file sources share about records: flattening
nested objects to dotted keys, the dotted paths into an answer, types
inferred from sampled values, the client-side watermark filter, and cutting
a stream of pages into batches."""

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.connectors.types import ExtractRequest, SourceColumn, SourceError

_MISSING = object()


def flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects -> dotted keys ("customer.id"); lists kept as they are
    (a JSON value); a record that is not an object becomes {"value": it}."""
    if not isinstance(record, dict):
        return {prefix or "value": record}
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def path_get(body: Any, path: str) -> Any:
    """The value at a dotted path ("data.items"; "" = the body itself), or
    _MISSING."""
    value = body
    for part in [p for p in (path or "").split(".") if p]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def path_present(value: Any) -> bool:
    return value is not _MISSING


# --- Types -------------------------------------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")
_DEC = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_BOOLS = {"true": True, "false": False}

# When one column shows values of two types, the wider wins.
_WIDER = {
    frozenset({"integer", "decimal"}): "decimal",
    frozenset({"date", "timestamp"}): "timestamp",
}


def value_type(value: Any, *, text_is_typed: bool = False) -> str | None:
    """The ontology type of one value (None for null). Strings in ISO date
    or date-time form are dates and timestamps; with `text_is_typed` (CSV)
    numbers and booleans written as text are typed too."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "decimal"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, dict | list):
        return "json"
    if isinstance(value, str):
        text = value.strip()
        if _DATE.match(text):
            return "date"
        if _TIMESTAMP.match(text):
            return "timestamp"
        if text_is_typed:
            if _INT.match(text):
                return "integer"
            if _DEC.match(text):
                return "decimal"
            if text.lower() in _BOOLS:
                return "boolean"
    return "string"


def columns_infer(records: Iterable[dict[str, Any]], *, text_is_typed: bool = False) -> tuple[SourceColumn, ...]:
    """Columns of flattened records, in first-seen order: a type agreed by
    every non-null value (integer+decimal -> decimal, date+timestamp ->
    timestamp, anything else mixed -> string); nullable when a null was seen
    or a record lacked the key."""
    types: dict[str, str | None] = {}
    nullable: dict[str, bool] = {}
    count = 0
    seen_in: dict[str, int] = {}
    for record in records:
        count += 1
        for name, value in record.items():
            kind = value_type(value, text_is_typed=text_is_typed)
            seen_in[name] = seen_in.get(name, 0) + 1
            if kind is None or (isinstance(value, str) and not value.strip() and text_is_typed):
                nullable[name] = True
                types.setdefault(name, None)
                continue
            nullable.setdefault(name, False)
            known = types.get(name)
            if known is None:
                types[name] = kind
            elif known != kind:
                types[name] = _WIDER.get(frozenset({known, kind}), "string")
    return tuple(
        SourceColumn(name=name, type=kind or "string", nullable=nullable.get(name, True) or seen_in[name] < count)
        for name, kind in types.items()
    )


# --- Watermarks ------------------------------------------------------------------------------


def _comparable(value: Any) -> tuple[int, Any]:
    """A value in a form comparable with others of its type: numbers as
    Decimal, dates and ISO strings as aware datetimes (UTC when naive), else
    text. The first element orders values of different kinds apart."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float | Decimal):
        return (0, Decimal(str(value)))
    if isinstance(value, datetime):
        return (1, value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return (1, datetime(value.year, value.month, value.day, tzinfo=UTC))
    text = str(value).strip()
    if _INT.match(text) or _DEC.match(text):
        try:
            return (0, Decimal(text))
        except InvalidOperation:
            pass
    if _DATE.match(text) or _TIMESTAMP.match(text):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return (1, parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        except ValueError:
            pass
    return (2, text)


def watermark_filter(request: ExtractRequest) -> Callable[[dict[str, Any]], bool] | None:
    """For sources that cannot filter themselves: keeps the records whose
    watermark column is greater than `watermark_after`, compared as the
    column's type (numbers as numbers, ISO dates as instants); records
    without a value are dropped."""
    if not request.watermark_column or request.watermark_after in (None, ""):
        return None
    column, after = request.watermark_column, _comparable(request.watermark_after)

    def keep(record: dict[str, Any]) -> bool:
        value = record.get(column)
        if value is None:
            return False
        mine = _comparable(value)
        if mine[0] != after[0]:
            return str(value) > str(request.watermark_after)
        return mine[1] > after[1]

    return keep


def batches_cut(
    pages: Iterator[list[dict[str, Any]]], request: ExtractRequest, *, keep_columns: bool = True
) -> Iterator[list[dict[str, Any]]]:
    """Records of pages (already flattened) as batches of `batch_size`,
    after the watermark, only the requested columns, at most `limit`."""
    keep = watermark_filter(request)
    size = max(1, request.batch_size)
    limit = request.limit
    batch: list[dict[str, Any]] = []
    sent = 0
    if limit is not None and limit <= 0:
        return
    for page in pages:
        for record in page:
            if keep is not None and not keep(record):
                continue
            if request.columns and keep_columns:
                record = {name: record.get(name) for name in request.columns}
            batch.append(record)
            sent += 1
            if len(batch) >= size:
                yield batch
                batch = []
            if limit is not None and sent >= limit:
                if batch:
                    yield batch
                return
    if batch:
        yield batch


def json_loads(response_text: str, where: str) -> Any:
    try:
        return json.loads(response_text)
    except ValueError:
        raise SourceError(
            f"{where} answered with something that is not JSON.", stage="query", code="malformed_answer"
        ) from None


def paged_extraction(pages: Iterator[dict[str, Any]], request: ExtractRequest, *, close: Callable[[], None]):
    """The Extraction of records that arrive page by page (REST, GraphQL):
    cut into the request's batches, the first batch read now (so a failing
    source fails here, and its columns are known), the rest as iterated;
    `close` (the HTTP client's) runs on failure here or at Extraction.close()."""
    from apps.connectors.types import Extraction

    try:
        batches = batches_cut(pages, request)
        first = next(batches, None)
    except BaseException:
        close()
        raise

    def stream() -> Iterator[list[dict[str, Any]]]:
        if first is not None:
            yield first
        yield from batches

    return Extraction(columns=columns_infer(first or []), batches=stream(), closers=[close, batches.close])


def records_sample(pages: Iterator[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first `limit` records of a paged source."""
    rows: list[dict[str, Any]] = []
    for batch in batches_cut(pages, ExtractRequest(batch_size=limit, limit=limit)):
        rows.extend(batch)
    return rows
