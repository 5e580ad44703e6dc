"""Values: normalisation of source strings, value-map keys, and the
converters of the non-temporal ontology types (dates.py has the temporal
ones). A converter takes a source value that is not null or blank and
returns it as the entity's row validator takes it (str, int, bool, an exact
Decimal, a date, an aware datetime in UTC, or the value itself for json), or
raises `Bad` with a reason a person can act on."""

import json
import math
from collections.abc import Callable
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

Converter = Callable[[Any], Any]

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# numeric's range (digits before the point): beyond it the warehouse refuses the value.
NUMERIC_MAX_WEIGHT_DIGITS = 131072
BOOLEAN_TEXT = {
    **dict.fromkeys(("true", "t", "yes", "y", "on", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "off", "0"), False),
}
CASES: dict[str, Callable[[str], str]] = {"upper": str.upper, "lower": str.lower, "title": str.title}
# Scale factors multiply exactly: the default context (28 digits) would round long numbers.
_EXACT = Context(prec=2000, Emax=10**9, Emin=-(10**9))


class Bad(ValueError):
    """A source value that cannot be mapped; the message says why."""


def shown(value: Any) -> str:
    """A value as the source gave it, short, for messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        text = "'" + value + "'"
    elif value is None or isinstance(value, bool):
        text = json.dumps(value)
    else:
        text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def key_of(value: Any) -> str:
    """The value-map key of a source value: case and whitespace do not count
    (`" a "` and `"A"` are the same key; inner runs of spaces are one)."""
    text = value if type(value) is str else as_text(value)
    return " ".join(text.split()).casefold()


def as_text(value: Any) -> str:
    """A scalar as text (numbers, booleans, dates); raises Bad for objects and arrays."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is Decimal:
        return str(value)
    if kind is float:
        if math.isfinite(value):
            return repr(value)
        raise Bad(f"expected a finite number, got {shown(value)}")
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    raise Bad(f"expected text, got {shown(value)}")


def as_decimal(value: Any) -> Decimal:
    kind = type(value)
    if kind is Decimal:
        number = value
    elif kind is int:
        return Decimal(value)
    elif kind is float:
        if not math.isfinite(value):
            raise Bad(f"expected a finite number, got {shown(value)}")
        return Decimal(repr(value))  # 0.1, not 0.1000000000000000055...
    elif kind is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise Bad(f"expected a number, got {shown(value)}") from None
    else:
        raise Bad(f"expected a number, got {shown(value)}")
    if not number.is_finite():
        raise Bad(f"expected a finite number, got {shown(value)}")
    if not -NUMERIC_MAX_WEIGHT_DIGITS < number.adjusted() < NUMERIC_MAX_WEIGHT_DIGITS:
        raise Bad(f"out of range for a number: {shown(value)}")
    return number


def scale_parse(factor: Any) -> Decimal | None:
    """A scale factor as an exact Decimal, or None when it is not a finite number."""
    if isinstance(factor, bool) or not isinstance(factor, int | float | str | Decimal):
        return None
    try:
        number = as_decimal(factor)
    except Bad:
        return None
    return number


# --- Converters by type -------------------------------------------------------


def string_converter() -> Converter:
    return as_text


def _int_checked(number: int, value: Any) -> int:
    if INT_MIN <= number <= INT_MAX:
        return number
    raise Bad(f"out of range for an integer (64-bit): {shown(value)}")


def _int_from_decimal(number: Decimal, value: Any) -> int:
    if number != number.to_integral_value():
        raise Bad(f"expected a whole number, got {shown(value)}")
    return _int_checked(int(number), value)


def integer_converter(scale: Decimal | None) -> Converter:
    if scale is not None:
        multiply = _EXACT.multiply

        def convert_scaled(value):
            if type(value) is bool:
                raise Bad(f"expected an integer, got {shown(value)}")
            return _int_from_decimal(multiply(as_decimal(value), scale), value)

        return convert_scaled

    def convert(value):
        kind = type(value)
        if kind is int:
            return _int_checked(value, value)
        if kind is str:
            try:
                return _int_checked(int(value), value)
            except ValueError:
                pass  # "12.0", "1e3": read as a number, then it must be whole
        elif kind is bool:
            raise Bad(f"expected an integer, got {shown(value)}")
        return _int_from_decimal(as_decimal(value), value)

    return convert


def decimal_converter(scale: Decimal | None) -> Converter:
    """Numbers leave as exact Decimals (`Decimal("12.50")`, every digit
    kept); whole ints stay ints."""
    if scale is not None:
        multiply = _EXACT.multiply

        def convert_scaled(value):
            if type(value) is bool:
                raise Bad(f"expected a number, got {shown(value)}")
            return multiply(as_decimal(value), scale)

        return convert_scaled

    def convert(value):
        kind = type(value)
        if kind is int:
            return value
        if kind is bool:
            raise Bad(f"expected a number, got {shown(value)}")
        return as_decimal(value)

    return convert


def boolean_converter() -> Converter:
    def convert(value):
        if value is True or value is False:
            return value
        kind = type(value)
        if kind is str:
            found = BOOLEAN_TEXT.get(value.strip().lower())
            if found is not None:
                return found
        elif kind is int and value in (0, 1):
            return value == 1
        raise Bad(f"expected a boolean (true/false, yes/no, Y/N, 1/0), got {shown(value)}")

    return convert


def json_converter() -> Converter:
    def convert(value):
        kind = type(value)
        if kind is Decimal:
            if not value.is_finite():
                raise Bad("JSON cannot hold NaN or Infinity")
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, datetime | date):
            return value.isoformat()
        if kind is float and not math.isfinite(value):
            raise Bad("JSON cannot hold NaN or Infinity")
        return value

    return convert


def table_key(value: Any) -> str | None:
    """`key_of` for a value-map lookup; None for a value that has no text (an object, an array)."""
    try:
        return key_of(value)
    except Bad:
        return None


__all__ = [
    "BOOLEAN_TEXT",
    "CASES",
    "Bad",
    "Converter",
    "as_decimal",
    "as_text",
    "boolean_converter",
    "decimal_converter",
    "integer_converter",
    "json_converter",
    "key_of",
    "scale_parse",
    "shown",
    "string_converter",
    "table_key",
]
