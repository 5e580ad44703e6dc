"""Type inference over a checked formula AST (docs/formulas.md, "Types").

Every node gets one of the ontology's types (integer and decimal are both a
*number* here), or `text` for a 'string' literal, whose type PostgreSQL
settles from what it meets (`ts > '2026-01-01'` is a timestamp comparison),
or `null`. A formula is refused at definition, naming the attribute and its
type, when PostgreSQL could not run it (`SUM(status)`: no sum of text) or
would fail on a literal (`ts BETWEEN 1 AND 'x'`), and when its value is not a
number (a metric's value is always a number). Rules per function and
operator: `AGGREGATE_ACCEPTS` and the `_Types` methods below.

Attributes whose type is not known (`None` in `attribute_types`) are `any`:
they are accepted everywhere, so a caller that has no types loses nothing."""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from apps.core.errors import AppError
from apps.ontology.types import formula as n

NUMBER, STRING, BOOLEAN, DATE, TIMESTAMP, JSON = "number", "string", "boolean", "date", "timestamp", "json"
TEXT, NULL, ANY = "text", "null", "any"  # a 'string' literal (type from context), NULL, an attribute of unknown type
_KIND = {"integer": NUMBER, "decimal": NUMBER, "string": STRING, "boolean": BOOLEAN, "date": DATE,
         "timestamp": TIMESTAMP, "json": JSON}  # fmt: skip
_ORDERED = {NUMBER, STRING, DATE, TIMESTAMP}  # MIN/MAX, <, BETWEEN: PostgreSQL orders these (not boolean, not json)

# What each aggregate's value argument may be, and what the aggregate gives (None: the argument's own type).
AGGREGATE_ACCEPTS: dict[str, tuple[frozenset[str], str | None]] = {
    "SUM": (frozenset({NUMBER}), NUMBER),
    "AVG": (frozenset({NUMBER}), NUMBER),
    "PERCENTILE": (frozenset({NUMBER}), NUMBER),
    "COUNT": (frozenset({NUMBER, STRING, BOOLEAN, DATE, TIMESTAMP, JSON}), NUMBER),
    "COUNT_DISTINCT": (frozenset({NUMBER, STRING, BOOLEAN, DATE, TIMESTAMP, JSON}), NUMBER),
    "MIN": (frozenset(_ORDERED), None),
    "MAX": (frozenset(_ORDERED), None),
    "FIRST": (frozenset({NUMBER, STRING, BOOLEAN, DATE, TIMESTAMP, JSON}), None),
    "LAST": (frozenset({NUMBER, STRING, BOOLEAN, DATE, TIMESTAMP, JSON}), None),
}
_NEEDS = {NUMBER: "a number", STRING: "a string", BOOLEAN: "a condition (true/false)"}

# Literals: PostgreSQL's numeric holds far more, but a metric's value is a float (about 1e308 at most), and a
# literal past 1e300 can only overflow it. The forms below are those both Python and PostgreSQL read the same way.
MAX_LITERAL_EXPONENT = 300
MAX_ROUND_DIGITS = 1000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?")
_INTEGER = re.compile(r"[+-]?\d+")
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
INTEGER = "integer"  # the data_type of a whole number: PostgreSQL reads a 'literal' beside it as bigint
_BOOLEAN_WORDS = {"true", "false", "t", "f", "yes", "no", "y", "n", "on", "off", "1", "0"}


@dataclass(frozen=True)
class Typed:
    kind: str
    what: str  # for messages: "status is a string", "'x' is a string"
    attribute: str | None = None
    data_type: str | None = None  # the attribute's ontology type
    literal: str | None = None  # a 'string' literal's value

    @property
    def short(self) -> str:
        """ "status is a string" -> "status (a string)"."""
        return re.sub(r"^(.*) (?:is|gives) (an? \w+)$", r"\1 (\2)", self.what)


def type_error(message: str, node: n.Node, *operands: Typed) -> AppError:
    details: dict = {"position": node.position}
    for operand in operands:
        if operand.attribute is not None:
            details.setdefault("attribute", operand.attribute)
            details.setdefault("data_type", operand.data_type)
    return AppError(message, code="type_mismatch", details=details)


def literal_check(node: n.Number) -> None:
    """A number literal PostgreSQL and the result (a float) can hold."""
    value = node.value
    if not value.is_finite() or (value != 0 and abs(value.adjusted()) > MAX_LITERAL_EXPONENT):
        raise AppError(
            f"The number {node.value} is out of range: number literals are finite and between "
            f"1e-{MAX_LITERAL_EXPONENT} and 1e{MAX_LITERAL_EXPONENT} in size.",
            code="number_out_of_range",
            details={"token": str(node.value), "position": node.position},
        )


def _text_fits(text: str, kind: str, *, integral: bool = False) -> bool:
    """Whether PostgreSQL reads the literal `text` as a `kind` (a whole
    number of bigint's range when `integral`) without an error."""
    stripped = text.strip()
    try:
        if kind == NUMBER and integral:
            return bool(_INTEGER.fullmatch(stripped)) and BIGINT_MIN <= int(stripped) <= BIGINT_MAX
        if kind == NUMBER:
            value = Decimal(stripped)
            return value.is_finite() and (value == 0 or abs(value.adjusted()) <= MAX_LITERAL_EXPONENT)
        if kind == DATE:
            return bool(_DATE.fullmatch(stripped)) and bool(date.fromisoformat(stripped))
        if kind == TIMESTAMP:
            return bool(_TIMESTAMP.fullmatch(stripped)) and bool(
                datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            )
        if kind == BOOLEAN:
            return stripped.lower() in _BOOLEAN_WORDS
        if kind == JSON:
            json.loads(stripped)
            return True
    except (ValueError, ArithmeticError):
        return False
    return kind in (STRING, TEXT, ANY)


class _Types:
    def __init__(self, attribute_types: Mapping[str, str | None]) -> None:
        self.attribute_types = attribute_types

    def of(self, node: n.Node) -> Typed:
        if isinstance(node, n.Number):
            literal_check(node)
            whole = node.value.as_tuple().exponent == 0  # 2 is an integer to PostgreSQL; 2.0 and 2e0 are numeric
            return Typed(NUMBER, f"{node.value} is a number", data_type=INTEGER if whole else None)
        if isinstance(node, n.String):
            if "\x00" in node.value:
                raise type_error("A string literal cannot contain the NUL character.", node)
            return Typed(TEXT, f"{node.value!r} is a string", literal=node.value)
        if isinstance(node, n.Boolean):
            return Typed(BOOLEAN, f"{'TRUE' if node.value else 'FALSE'} is a boolean")
        if isinstance(node, n.Null):
            return Typed(NULL, "NULL")
        if isinstance(node, n.Name):
            if node.name in self.attribute_types:
                data_type = self.attribute_types[node.name]
                if data_type is None:
                    return Typed(ANY, node.name, attribute=node.name)
                article = "an" if data_type[0] in "aeiou" else "a"
                return Typed(_KIND.get(data_type, ANY), f"{node.name} is {article} {data_type}", node.name, data_type)
            return Typed(NUMBER, f"metric {node.name} is a number")  # another metric: its value
        if isinstance(node, n.Unary):
            operand = self.of(node.operand)
            if node.op == "NOT":
                return self.condition(operand, node, "NOT")
            self.expect(operand, NUMBER, node, f"unary {node.op}")
            return Typed(NUMBER, f"{node.op}(...) is a number")
        if isinstance(node, n.Binary):
            return self.binary(node)
        if isinstance(node, n.IsNull):
            self.of(node.operand)
            return Typed(BOOLEAN, "IS NULL gives a boolean")
        if isinstance(node, n.InList):
            operand = self.of(node.operand)
            for item in node.items:
                self.unify(operand, self.of(item), node, "IN", comparison=True)
            return Typed(BOOLEAN, "IN gives a boolean")
        if isinstance(node, n.Between):
            operand = self.of(node.operand)
            for bound in (node.low, node.high):
                self.ordered(self.unify(operand, self.of(bound), node, "BETWEEN", comparison=True), node, "BETWEEN")
            return Typed(BOOLEAN, "BETWEEN gives a boolean")
        if isinstance(node, n.Case):
            result: Typed | None = None
            for condition, value in node.whens:
                self.condition(self.of(condition), node, "CASE WHEN")
                typed = self.of(value)
                result = typed if result is None else self.unify(result, typed, node, "CASE branches")
            if node.default is not None:
                result = self.unify(result, self.of(node.default), node, "CASE branches")
            return _gives("CASE", result)
        if isinstance(node, n.Call):
            return self.call(node)
        return Typed(ANY, type(node).__name__)

    # -- rules --
    def expect(self, typed: Typed, kind: str, node: n.Node, what: str, *, null_ok: bool = False) -> None:
        """`typed` where `kind` is needed. A bare 'string' or NULL has no type of its own: PostgreSQL
        finds no single function or operator for it among the numeric ones (`sum(unknown) is not
        unique`), so where a number is needed it must be a number (NULL only beside one: `NULL + 1`)."""
        if typed.kind in (kind, ANY) or (typed.kind == NULL and (kind != NUMBER or null_ok)):
            return
        if typed.kind == TEXT and kind != NUMBER and _text_fits(typed.literal or "", kind):
            return
        shown = "NULL has no type here" if typed.kind == NULL else typed.what
        raise type_error(f"{what} needs {_NEEDS.get(kind, kind)}; {shown}.", node, typed)

    def condition(self, typed: Typed, node: n.Node, what: str) -> Typed:
        self.expect(typed, BOOLEAN, node, what)
        return Typed(BOOLEAN, f"{what} gives a boolean")

    def ordered(self, typed: Typed, node: n.Node, what: str) -> None:
        if typed.kind not in (*_ORDERED, TEXT, NULL, ANY):
            raise type_error(f"{what} needs values that have an order; {typed.what}.", node, typed)

    def unify(self, left: Typed, right: Typed, node: n.Node, what: str, *, comparison: bool = False) -> Typed:
        """The common type of two operands PostgreSQL would compare or choose
        between, or a type error naming both."""
        for a, b in ((left, right), (right, left)):
            if a.kind in (NULL, ANY):
                return b if b.kind not in (NULL, ANY) else a
            if a.kind == TEXT and b.kind != TEXT:
                integral = b.kind == NUMBER and b.data_type == INTEGER
                if _text_fits(a.literal or "", b.kind, integral=integral):
                    return b
                noun = "JSON" if b.kind == JSON else "whole number" if integral else f"{b.kind}"
                hint = " (ISO 8601, e.g. '2026-03-31')" if b.kind in (DATE, TIMESTAMP) else ""
                raise type_error(f"{a.literal!r} is not a valid {noun}{hint} to use with {b.short}.", node, b)
        if left.kind == right.kind:
            # A whole number only if both are: 1 beside 2.5 is numeric to PostgreSQL.
            return left if left.data_type == right.data_type or left.kind != NUMBER else _number(left, right)
        if {left.kind, right.kind} == {DATE, TIMESTAMP}:
            return left if left.kind == TIMESTAMP else right
        verb = "compare" if comparison else "combine"
        raise type_error(f"{what}: cannot {verb} {left.short} with {right.short}.", node, left, right)

    def binary(self, node: n.Binary) -> Typed:
        left, right = self.of(node.left), self.of(node.right)
        op = node.op
        if op in ("AND", "OR"):
            self.condition(left, node, op)
            return self.condition(right, node, op)
        if op == "LIKE":
            self.expect(left, STRING, node, "LIKE")
            self.expect(right, STRING, node, "LIKE")
            return Typed(BOOLEAN, "LIKE gives a boolean")
        if op in ("=", "!="):
            self.unify(left, right, node, op, comparison=True)
            return Typed(BOOLEAN, f"{op} gives a boolean")
        if op in ("<", "<=", ">", ">="):
            self.ordered(self.unify(left, right, node, op, comparison=True), node, op)
            return Typed(BOOLEAN, f"{op} gives a boolean")
        # + - * / %: numbers only (the compiler has no date arithmetic)
        for operand, other in ((left, right), (right, left)):
            if operand.kind == TEXT:
                raise type_error(f"Arithmetic ({op}) needs numbers; {operand.what}.", node, operand)
            self.expect(operand, NUMBER, node, f"Arithmetic ({op})", null_ok=other.kind in (NUMBER, ANY))
        return Typed(NUMBER, f"the result of {op} is a number")

    def call(self, node: n.Call) -> Typed:
        function = node.function
        if function in AGGREGATE_ACCEPTS:
            if node.filter is not None:
                self.condition(self.of(node.filter), node, f"{function}(...) WHERE")
            values = [a for a in node.args if not isinstance(a, n.Star)][:1]
            if not values:
                return Typed(NUMBER, f"{function}(*) is a number", data_type=INTEGER)
            typed = self.of(values[0])
            accepts, gives = AGGREGATE_ACCEPTS[function]
            if function == "COUNT":
                return Typed(NUMBER, "COUNT(...) gives a number", data_type=INTEGER)
            if typed.kind == ANY:
                return _gives(f"{function}(...)", Typed(gives or ANY, ""))
            # An aggregate of a bare 'string' or NULL: PostgreSQL cannot tell which aggregate (sum(unknown)).
            if typed.kind not in accepts:
                kinds = sorted(accepts)
                needs = _NEEDS.get(kinds[0]) if len(kinds) == 1 else "a " + ", a ".join(kinds[:-1]) + " or " + kinds[-1]
                shown = "NULL has no type here" if typed.kind == NULL else typed.what
                raise type_error(f"{function} needs {needs}; {shown}.", node, typed)
            if function == "COUNT_DISTINCT":
                return Typed(NUMBER, "COUNT_DISTINCT(...) gives a number", data_type=INTEGER)
            kept = typed.data_type if gives is None else None  # MIN/MAX/FIRST/LAST keep the argument's type
            return _gives(f"{function}(...)", Typed(gives or typed.kind, "", data_type=kept))
        if function in ("AT_START", "AT_END"):
            return _gives(f"{function}(...)", self.of(node.args[0]))
        if function in ("PERIOD_START", "PERIOD_END"):
            return Typed(TIMESTAMP, f"{function}() is a timestamp")
        args = [self.of(a) for a in node.args]
        if function == "IF":
            self.condition(args[0], node, "IF")
            result = self.unify(args[1], args[2], node, "IF")
            return _gives("IF", result)
        if function == "COALESCE":
            result = args[0]
            for arg in args[1:]:
                result = self.unify(result, arg, node, "COALESCE")
            return _gives("COALESCE", result)
        for arg in args:
            self.expect(arg, NUMBER, node, function)
        if function == "ROUND" and len(node.args) > 1:
            digits = node.args[1]
            if isinstance(digits, n.Number) and (
                digits.value != digits.value.to_integral_value() or abs(digits.value) > MAX_ROUND_DIGITS
            ):
                raise type_error(
                    f"ROUND's digits must be a whole number between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}; "
                    f"{digits.value} is not.",
                    node,
                )
        return Typed(NUMBER, f"{function}(...) is a number")


def _gives(what: str, result: Typed) -> Typed:
    kind = STRING if result.kind == TEXT else result.kind
    return Typed(
        result.kind,
        f"{what} gives {'an' if kind[0] in 'aeiou' else 'a'} {kind}",
        data_type=result.data_type,
        literal=result.literal,
    )


def _number(left: Typed, right: Typed) -> Typed:
    """The type of a whole number beside a number that may have decimals: the latter."""
    return left if left.data_type != INTEGER else right


def formula_type_check(root: n.Node, attribute_types: Mapping[str, str | None]) -> None:
    """Raise AppError (400 `type_mismatch` / `number_out_of_range`) when the
    formula cannot compute a number: see the module docstring."""
    typed = _Types(attribute_types).of(root)
    if typed.kind in (NUMBER, NULL, ANY):
        return
    raise type_error(f"A metric's value must be a number; {typed.what}.", root, typed)


def condition_type_check(root: n.Node, path_types: Mapping[str, str | None]) -> None:
    """Raise AppError (400 `type_mismatch`) when a row policy's predicate is
    not a condition or compares values of different types. A placeholder's
    value is text converted to the compared attribute's type when bound, so
    it types as anything."""
    typed = _Types(path_types).of(root)
    if typed.kind in (BOOLEAN, ANY):
        return
    raise type_error(f"A row policy's predicate must be a condition (true or false); {typed.what}.", root, typed)
