"""A step's whole-column form, for a batch read column by column
(`Mapper.apply_columns`, the hot path of a run: bench/sources.py).

`column(values)` returns exactly `[step.convert(v) for v in values]`, or None
as soon as one value cannot be mapped (the batch then goes record by record,
which names each problem). It gets there faster than a call per value when
it can:

- text columns whose values repeat (status codes, sensor names): each
  distinct spelling is converted once, by the step's own converter, and the
  column is looked up at C speed;
- columns already of the attribute's type (a SQL source's timestamps,
  numerics, integers, dates, booleans) and no value map: a few C-speed
  passes check them (finite, in range, with an offset) and they go through
  as they are, as the converter would return them.

Anything else is the converter, value by value."""

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from apps.ingestion.mapping.values import INT_MAX, INT_MIN, NUMERIC_MAX_WEIGHT_DIGITS, Bad
from apps.ontology.types.definitions import AttributeView

ColumnConvert = Callable[[Sequence[Any]], Sequence[Any] | None]
TEXT_TYPES = {str, type(None)}
MEMO_SIZE = 10_000  # distinct spellings remembered per step; forgotten all at once when full
_tzinfo = attrgetter("tzinfo")
# What a record-by-record step catches (Mapper.apply): the same ends a column.
_FAILURES = (Bad, ValueError, TypeError, ArithmeticError, RecursionError)


def _in_range(values: Sequence[int]) -> bool:
    return min(values) >= INT_MIN and max(values) <= INT_MAX


def _finite_in_range(values: Sequence[Decimal]) -> bool:
    if not all(map(Decimal.is_finite, values)):
        return False
    weights = list(map(Decimal.adjusted, values))
    return min(weights) > -NUMERIC_MAX_WEIGHT_DIGITS and max(weights) < NUMERIC_MAX_WEIGHT_DIGITS


def _moments(values: Sequence[datetime], zone_name: str | None) -> Sequence[datetime] | None:
    """As the timestamp converter leaves them: in UTC; a naive one is UTC
    wall-clock time only when the mapping names no other zone."""
    zones = set(map(_tzinfo, values))
    if zones == {UTC}:
        return values
    if None not in zones:
        return [moment.astimezone(UTC) for moment in values]  # OverflowError at the edges: record by record
    if zones == {None} and zone_name in (None, "UTC"):
        return [moment.replace(tzinfo=UTC) for moment in values]
    return None


def _typed(attribute: AttributeView, zone_name: str | None) -> dict[type, Callable[[Sequence[Any]], Any]]:
    """{the column's single type: values -> the converted column or None}."""
    kind = attribute.data_type
    if kind == "timestamp":
        return {datetime: lambda values: _moments(values, zone_name)}
    if kind == "decimal":
        return {
            Decimal: lambda values: values if _finite_in_range(values) else None,
            int: lambda values: values,  # ints stay ints
        }
    if kind == "integer":
        return {int: lambda values: values if _in_range(values) else None}
    if kind == "date":
        return {date: lambda values: values}
    if kind == "boolean":
        return {bool: lambda values: values}
    return {}


def column_converter(
    convert_one: Callable[[Any], Any],
    *,
    attribute: AttributeView,
    mapped: bool,
    scaled: bool,
    zone_name: str | None,
) -> ColumnConvert:
    """`mapped`: the step looks values up in a value map (or the allowed
    values): typed columns then go value by value. `scaled`: a scale factor
    multiplies every number."""
    typed = {} if mapped or scaled else _typed(attribute, zone_name)
    memo: dict[Any, Any] = {}

    def column(values: Sequence[Any]) -> Sequence[Any] | None:
        if not values:
            return []
        types = set(map(type, values))
        try:
            if types <= TEXT_TYPES:
                distinct = set(values)
                if len(distinct) * 2 <= len(values):  # repeats: convert each spelling once
                    new = distinct.difference(memo)
                    if len(memo) + len(new) > MEMO_SIZE:
                        memo.clear()
                        new = distinct
                    for value in new:
                        memo[value] = convert_one(value)
                    return list(map(memo.__getitem__, values))
            elif len(types) == 1:
                fast = typed.get(types.pop())
                converted = fast(values) if fast is not None else None
                if converted is not None:
                    return converted
            return list(map(convert_one, values))
        except _FAILURES:
            return None

    return column


__all__ = ["ColumnConvert", "column_converter"]
