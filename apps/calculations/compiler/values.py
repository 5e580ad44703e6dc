"""Request values -> bound, typed predicates. A filter value arrives as text
(`filter[status]=Active`); it is converted to the attribute's type here, so a
bad value is a 400 naming the attribute instead of a database error."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from apps.calculations.compiler.expressions import Params, column
from apps.calculations.paths import Column
from apps.core.errors import AppError

OPERATORS = {"in", "not_in", "eq", "ne", "lt", "lte", "gt", "gte", "is_null", "not_null"}
_TRUE, _FALSE = {"true", "1", "yes", "t"}, {"false", "0", "no", "f"}


def value_convert(value: Any, data_type: str, *, path: str) -> Any:
    """`value` as the Python type psycopg binds for `data_type`."""
    if value is None:
        return None
    text = value if isinstance(value, str) else None
    try:
        if data_type == "string":
            if "\x00" in str(value):
                raise ValueError
            return str(value)
        if data_type == "integer":
            if isinstance(value, bool):
                raise ValueError
            return int(text.strip()) if text is not None else int(value)
        if data_type == "decimal":
            return Decimal(text.strip() if text is not None else str(value))
        if data_type == "boolean":
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError
        if data_type == "date":
            return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(text)
        if data_type == "timestamp":
            parsed = value if isinstance(value, datetime) else datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                raise ValueError
            return parsed
    except (ValueError, TypeError, InvalidOperation, AttributeError):
        pass
    else:
        raise AppError(
            f"Cannot filter on {path!r}: its type {data_type} does not support filters.",
            code="invalid_filter",
            details={"attribute": path},
        )
    hint = " (with a UTC offset)" if data_type == "timestamp" else ""
    raise AppError(
        f"Filter value {value!r} for {path!r} is not a valid {data_type}{hint}.",
        code="invalid_filter",
        details={"attribute": path, "value": str(value), "data_type": data_type},
    )


def predicate(params: Params, target: Column, op: str, values: tuple, *, path: str) -> exp.Expression:
    """`target <op> values` with every value bound."""
    if op not in OPERATORS:
        raise AppError(f"Unknown filter operator {op!r}.", code="invalid_filter", details={"op": op})
    col = column(target.alias, target.sql_name)
    if op in ("is_null", "not_null"):
        test = exp.Is(this=col, expression=exp.Null())
        return test if op == "is_null" else exp.Not(this=test)
    converted = [value_convert(v, target.attribute.data_type, path=path) for v in values]
    if not converted:
        raise AppError(f"Filter on {path!r} has no value.", code="invalid_filter", details={"attribute": path})
    if op in ("in", "not_in"):
        bound = [params.bind(v) for v in converted]
        test = exp.EQ(this=col, expression=bound[0]) if len(bound) == 1 else exp.In(this=col, expressions=bound)
        return test if op == "in" else exp.Not(this=exp.Paren(this=test))
    if len(converted) != 1:
        raise AppError(f"Operator {op!r} takes one value.", code="invalid_filter", details={"attribute": path})
    comparison = {"eq": exp.EQ, "ne": exp.NEQ, "lt": exp.LT, "lte": exp.LTE, "gt": exp.GT, "gte": exp.GTE}[op]
    return comparison(this=col, expression=params.bind(converted[0]))
