"""Per-attribute value converters: one closure per attribute that returns
what the warehouse stores or raises `_Invalid` with a reason (see the package
docstring for the rules)."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.types.json import Jsonb

from apps.ontology.models import DataType
from apps.ontology.row_validation.options import DEFAULT_OPTIONS, LoadOptions
from apps.ontology.row_validation.patterns import pattern_reader

ROW_ERROR_KEY = "_row"  # attribute codes never start with "_" (identifiers.py)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# numeric's limits (PostgreSQL numeric_recv): digits before the point, scale.
NUMERIC_MAX_WEIGHT_DIGITS = 131072
NUMERIC_MAX_SCALE = 16383
NUMERIC_MAX_SIGNIFICANT = 1000  # far beyond any measure; keeps the binary form small
BOOLEAN_TEXT = {
    **dict.fromkeys(("true", "t", "yes", "y", "on", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "off", "0"), False),
}
REQUIRED = "Required: the attribute is not nullable."
NUL_CHARACTER = "Contains a NUL character (\\u0000), which cannot be stored."

Converter = Callable[[Any], Any]


class _Invalid(ValueError):
    pass


@dataclass(frozen=True)
class AttributeRule:
    code: str
    data_type: str
    nullable: bool = True
    enum_values: tuple[str, ...] = ()


def _shown(value: Any) -> str:
    """A value as the user sent it, short."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, dict):
        return "an object"
    elif isinstance(value, list):
        return "an array"
    else:
        text = json.dumps(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_is(text: str) -> str:
    return text


# --- Text (CSV cells, and strings in JSON) ----------------------------------


def _string_check(value: str) -> None:
    if "\x00" in value:
        raise _Invalid(NUL_CHARACTER)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise _Invalid("Contains an unpaired surrogate; it is not valid Unicode text.") from None


def _int_from_text(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise _Invalid(f"Expected an integer, got {_shown(text)}.") from None
    if INT_MIN <= number <= INT_MAX:
        return number
    raise _Invalid(f"Out of range for an integer (64-bit): {_shown(text)}.")


def _decimal_from_text(text: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _Invalid(f"Expected a number, got {_shown(text)}.") from None
    if not number.is_finite():
        raise _Invalid(f"Expected a finite number, got {_shown(text)}.")
    # Only long texts can break numeric's limits: skip the costly look at the digits otherwise.
    if len(text) > 64:
        _sign, digits, exponent = number.as_tuple()
        if (
            number.adjusted() >= NUMERIC_MAX_WEIGHT_DIGITS
            or -exponent > NUMERIC_MAX_SCALE
            or len(digits) > NUMERIC_MAX_SIGNIFICANT
        ):
            raise _Invalid(f"Out of range for a decimal: {_shown(text)}.")
    elif not -NUMERIC_MAX_WEIGHT_DIGITS < number.adjusted() < NUMERIC_MAX_WEIGHT_DIGITS:
        raise _Invalid(f"Out of range for a decimal: {_shown(text)}.")  # 1e999999: short text, huge number
    return number


def _boolean_from_text(text: str) -> bool:
    value = BOOLEAN_TEXT.get(text.strip().lower())
    if value is None:
        raise _Invalid(f"Expected a boolean (true/false), got {_shown(text)}.")
    return value


def _date_from_text(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise _Invalid(f"Expected an ISO 8601 date (YYYY-MM-DD), got {_shown(text)}.") from None


def _timestamp_from_text(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise _Invalid(f"Expected an ISO 8601 timestamp (2026-01-31T09:30:00Z), got {_shown(text)}.") from None
    # Naive means UTC: never the server's or the session's zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- Files as they come (LoadOptions) ----------------------------------------
# Used only when a load names a pattern, zone or decimal comma: the default
# readers above stay the fast path.


def _example(moment: datetime, pattern: str) -> str:
    return (moment if "%z" in pattern else moment.replace(tzinfo=None)).strftime(pattern)


def _date_reader(options: LoadOptions) -> Converter:
    pattern = options.date_format
    if pattern is None:
        return _date_from_text
    strptime = pattern_reader(pattern)
    example = _example(datetime(2026, 1, 31, tzinfo=UTC), pattern)

    def read(text: str) -> date:
        try:
            return strptime(text.strip()).date()
        except ValueError:
            raise _Invalid(f"Expected a date as {pattern} (e.g. {example}), got {_shown(text)}.") from None

    return read


def _zoned(zone: ZoneInfo) -> Callable[[datetime], datetime]:
    """A naive moment read as wall-clock time in `zone`. A time the clocks
    skipped (spring forward) does not exist there and is refused; a time they
    passed twice (fall back) is the first of the two (fold=0, the offset
    before the change)."""

    def localize(moment: datetime) -> datetime:
        if moment.tzinfo is not None:
            return moment  # an explicit offset wins
        local = moment.replace(tzinfo=zone)
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
            raise _Invalid(
                f"{moment.isoformat(sep=' ')} does not exist in {zone.key}: "
                "the clocks skipped that hour (daylight saving time began)."
            )
        return local

    return localize


def _naive_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _timestamp_reader(options: LoadOptions) -> Converter:
    pattern, zone = options.timestamp_format, options.timezone
    if pattern is None and zone is None:
        return _timestamp_from_text
    localize = _zoned(zone) if zone is not None else _naive_utc
    if pattern is None:

        def read(text: str) -> datetime:
            try:
                moment = datetime.fromisoformat(text.strip())
            except ValueError:
                raise _Invalid(f"Expected an ISO 8601 timestamp (2026-01-31T09:30:00), got {_shown(text)}.") from None
            return localize(moment)

        return read
    strptime = pattern_reader(pattern)
    example = _example(datetime(2026, 1, 31, 9, 30, tzinfo=UTC), pattern)

    def read_pattern(text: str) -> datetime:
        try:
            moment = strptime(text.strip())
        except ValueError:
            raise _Invalid(f"Expected a timestamp as {pattern} (e.g. {example}), got {_shown(text)}.") from None
        return localize(moment)

    return read_pattern


def _decimal_comma_from_text(text: str) -> Decimal:
    if "." in text:
        raise _Invalid(
            f"Expected a number with a decimal comma (12,5), got {_shown(text)}: "
            "with decimal=, a point is not read (no thousands separators)."
        )
    try:
        return _decimal_from_text(text.replace(",", "."))
    except _Invalid:
        raise _Invalid(f"Expected a number with a decimal comma (12,5), got {_shown(text)}.") from None


def _from_text(data_type: str, options: LoadOptions) -> Converter:
    if options is DEFAULT_OPTIONS:
        return _FROM_TEXT[data_type]
    if data_type == DataType.DATE:
        return _date_reader(options)
    if data_type == DataType.TIMESTAMP:
        return _timestamp_reader(options)
    if data_type == DataType.DECIMAL and options.decimal == ",":
        return _decimal_comma_from_text
    return _FROM_TEXT[data_type]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        # json cannot write a Decimal as a number: numbers inside json values keep double precision.
        return float(value)
    raise TypeError(type(value).__name__)


JSON_TOO_DEEP = "The JSON value is nested too deeply (arrays or objects within each other about 1000 levels deep)."
_json_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)


def _json_stored(value: Any) -> Jsonb:
    try:
        text = _json_encoder.encode(value)
    except RecursionError:
        raise _Invalid(JSON_TOO_DEEP) from None
    except ValueError:
        raise _Invalid("JSON cannot hold NaN or Infinity.") from None
    except TypeError:
        raise _Invalid(f"Not a JSON value: {_shown(value)}.") from None
    # jsonb refuses NUL even escaped; a literal backslash can fool the text test, so confirm on the value.
    try:
        if "\\u0000" in text and _contains_nul(value):
            raise _Invalid(NUL_CHARACTER)
    except RecursionError:
        raise _Invalid(JSON_TOO_DEEP) from None
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise _Invalid("Contains an unpaired surrogate; it is not valid Unicode text.") from None
    return Jsonb(text, dumps=_as_is)


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def json_constant_reject(name: str) -> Any:
    """`parse_constant` for json.loads: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON; send null or a number")


def _json_from_text(text: str) -> Jsonb:
    try:
        value = json.loads(text, parse_constant=json_constant_reject)
    except RecursionError:  # as the JSON body's parser (services/data_load.py json_rows_parse) refuses it
        raise _Invalid(JSON_TOO_DEEP) from None
    except ValueError as exc:
        raise _Invalid(f"Expected a JSON value: {exc}.") from None
    return _json_stored(value)


_FROM_TEXT: dict[str, Converter] = {
    DataType.INTEGER: _int_from_text,
    DataType.DECIMAL: _decimal_from_text,
    DataType.BOOLEAN: _boolean_from_text,
    DataType.DATE: _date_from_text,
    DataType.TIMESTAMP: _timestamp_from_text,
    DataType.JSON: _json_from_text,
}


# --- Converters --------------------------------------------------------------
# Each branch order puts the common case first: a value of the native type.


def _null(rule: AttributeRule) -> None:
    if rule.nullable:
        return None
    raise _Invalid(REQUIRED)


def _string_converter(rule: AttributeRule, *, cells: bool) -> Converter:
    enum = frozenset(rule.enum_values)
    choices = ", ".join(rule.enum_values)

    def convert(value):
        if type(value) is str and (value or not cells):
            if "\x00" in value or not value.isascii():
                _string_check(value)
            if enum and value not in enum:
                raise _Invalid(f"{_shown(value)} is not one of the allowed values: {choices}.")
            return value
        if value is None or value == "":
            return _null(rule)
        raise _Invalid(f"Expected a string, got {_shown(value)}.")

    return convert


def _integer_json(rule: AttributeRule) -> Converter:
    def convert(value):
        if type(value) is int:
            if INT_MIN <= value <= INT_MAX:
                return value
            raise _Invalid(f"Out of range for an integer (64-bit): {_shown(value)}.")
        if value is None:
            return _null(rule)
        if (type(value) is float and value.is_integer()) or (
            type(value) is Decimal and value.is_finite() and value == value.to_integral_value()
        ):
            return convert(int(value))  # 12.0 is 12
        if type(value) is str:
            return _int_from_text(value)
        raise _Invalid(f"Expected an integer, got {_shown(value)}.")

    return convert


def _decimal_json(rule: AttributeRule) -> Converter:
    isfinite = math.isfinite

    def convert(value):
        kind = type(value)
        if kind is Decimal:  # what the API's parser makes of a JSON number with a fraction or exponent
            if value.is_finite() and -NUMERIC_MAX_WEIGHT_DIGITS < value.adjusted() < NUMERIC_MAX_WEIGHT_DIGITS:
                return value
            raise _Invalid(f"Out of range for a decimal: {_shown(value)}.")
        if kind is int:
            return value if INT_MIN <= value <= INT_MAX else _decimal_from_text(str(value))
        if kind is float:
            if isfinite(value):
                # repr is the shortest text that reads back as this float: 0.1, not 0.1000000000000000055...
                return Decimal(repr(value))
            raise _Invalid(f"Expected a finite number, got {_shown(value)}.")
        if value is None:
            return _null(rule)
        if kind is str:
            return _decimal_from_text(value)
        raise _Invalid(f"Expected a number, got {_shown(value)}.")

    return convert


def _boolean_json(rule: AttributeRule) -> Converter:
    def convert(value):
        if value is True or value is False:
            return value
        if value is None:
            return _null(rule)
        if type(value) is str:
            return _boolean_from_text(value)
        raise _Invalid(f"Expected a boolean (true/false), got {_shown(value)}.")

    return convert


def _date_json(rule: AttributeRule, options: LoadOptions = DEFAULT_OPTIONS) -> Converter:
    read = _date_reader(options)

    def convert(value):
        if type(value) is str:
            return read(value)
        if value is None:
            return _null(rule)
        if type(value) is date:  # an ingestion job's mapper hands dates over typed (JSON never makes one)
            return value
        raise _Invalid(f"Expected an ISO 8601 date string (YYYY-MM-DD), got {_shown(value)}.")

    return convert


def _timestamp_json(rule: AttributeRule, options: LoadOptions = DEFAULT_OPTIONS) -> Converter:
    if options.timestamp_format is not None or options.timezone is not None:
        read = _timestamp_reader(options)

        def convert_read(value):
            if type(value) is str:
                return read(value)
            if value is None:
                return _null(rule)
            if type(value) is datetime:
                return _naive_utc(value)
            raise _Invalid(f"Expected a timestamp string, got {_shown(value)}.")

        return convert_read
    parse = datetime.fromisoformat

    def convert(value):
        if type(value) is str:
            try:
                moment = parse(value)
            except ValueError:
                return _timestamp_from_text(value)  # retries stripped, then explains
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        if value is None:
            return _null(rule)
        if type(value) is datetime:  # an ingestion job's mapper hands moments over typed (JSON never makes one)
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        raise _Invalid(f"Expected an ISO 8601 timestamp string (2026-01-31T09:30:00Z), got {_shown(value)}.")

    return convert


def _json_json(rule: AttributeRule) -> Converter:
    def convert(value):
        if value is None:
            return _null(rule)
        return _json_stored(value)

    return convert


_JSON_CONVERTERS: dict[str, Callable[[AttributeRule], Converter]] = {
    DataType.INTEGER: _integer_json,
    DataType.DECIMAL: _decimal_json,
    DataType.BOOLEAN: _boolean_json,
    DataType.DATE: _date_json,
    DataType.TIMESTAMP: _timestamp_json,
    DataType.JSON: _json_json,
}


def json_converter(rule: AttributeRule, options: LoadOptions = DEFAULT_OPTIONS) -> Converter:
    if rule.data_type == DataType.STRING:
        return _string_converter(rule, cells=False)
    if rule.data_type in (DataType.DATE, DataType.TIMESTAMP):
        return _JSON_CONVERTERS[rule.data_type](rule, options)
    return _JSON_CONVERTERS[rule.data_type](rule)


def csv_converter(rule: AttributeRule, options: LoadOptions = DEFAULT_OPTIONS) -> Converter:
    if rule.data_type == DataType.STRING:
        return _string_converter(rule, cells=True)
    from_text = _from_text(rule.data_type, options)
    if rule.nullable:

        def convert(cell):
            return from_text(cell) if cell else None

    else:

        def convert(cell):
            if cell:
                return from_text(cell)
            raise _Invalid(REQUIRED)

    return convert
