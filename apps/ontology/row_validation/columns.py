"""Whole-column checks for `RowValidator.batches` (a `ColumnBatch`): for
each attribute, a function that takes the column and returns the values as
stored, or None when it cannot vouch for every value (the batch then goes
row by row, which names each problem).

Each check accepts exactly what the attribute's JSON converter
(converters.py) accepts and returns the same values, by a few passes that
run at C speed (`set(map(type, column))`, `min`, `max`, `"".join`): this is
the hot path of an ingestion job (bench/sources.py). Anything else falls
back to the converter itself, value by value, which is exact by
construction."""

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from apps.ontology.models import DataType
from apps.ontology.row_validation.converters import (
    INT_MAX,
    INT_MIN,
    NUMERIC_MAX_WEIGHT_DIGITS,
    AttributeRule,
    Converter,
    _Invalid,
)

ColumnCheck = Callable[[Sequence[Any]], Sequence[Any] | None]
_NONE = type(None)
_tzinfo = attrgetter("tzinfo")


def _present(column: Sequence[Any], types: set[type]) -> Sequence[Any]:
    return [value for value in column if value is not None] if _NONE in types else column


def _strings_ok(values: Sequence[str], enum: frozenset[str]) -> bool:
    joined = "".join(values)
    if "\x00" in joined:
        return False
    if not joined.isascii():
        try:
            joined.encode()  # a lone surrogate anywhere fails here, as _string_check would
        except UnicodeEncodeError:
            return False
    return not enum or set(values) <= enum


def _integers_ok(values: Sequence[int]) -> bool:
    return not values or (min(values) >= INT_MIN and max(values) <= INT_MAX)


def _decimals_ok(values: Sequence[Decimal]) -> bool:
    if not values:
        return True
    if not all(map(Decimal.is_finite, values)):
        return False
    weights = list(map(Decimal.adjusted, values))
    return min(weights) > -NUMERIC_MAX_WEIGHT_DIGITS and max(weights) < NUMERIC_MAX_WEIGHT_DIGITS


def _typed(rule: AttributeRule) -> Callable[[Sequence[Any], set[type]], bool] | None:
    """`(column, its types) -> True` when every value is of the attribute's
    native type (or a null it allows) and valid; None for json."""
    enum = frozenset(rule.enum_values)
    native: dict[str, tuple[type, Callable[[Sequence[Any]], bool]]] = {
        DataType.STRING: (str, lambda values: _strings_ok(values, enum)),
        DataType.INTEGER: (int, _integers_ok),
        DataType.DECIMAL: (Decimal, _decimals_ok),
        DataType.BOOLEAN: (bool, lambda values: True),
        DataType.DATE: (date, lambda values: True),
        # naive moments are read as UTC by the converter (a new value): leave them to it
        DataType.TIMESTAMP: (datetime, lambda values: None not in set(map(_tzinfo, values))),
    }
    if rule.data_type not in native:
        return None
    kind, valid = native[rule.data_type]

    def check(column: Sequence[Any], types: set[type]) -> bool:
        if _NONE in types and not rule.nullable:
            return False
        if not types <= {kind, _NONE}:
            return False
        return valid(_present(column, types))

    return check


def column_check(rule: AttributeRule, convert: Converter) -> ColumnCheck:
    typed = _typed(rule)

    def check(column: Sequence[Any]) -> Sequence[Any] | None:
        if typed is not None and typed(column, set(map(type, column))):
            return column
        try:
            return list(map(convert, column))
        except _Invalid:
            return None

    return check


__all__ = ["ColumnCheck", "column_check"]
