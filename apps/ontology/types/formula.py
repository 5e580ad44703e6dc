"""The formula AST: what a metric formula means, independent of SQL, and the
language's vocabulary (which functions aggregate, which wrap an aggregate).
The ontology builds and checks the tree (apps/ontology/formula/); the
calculation engine compiles it (it gets it from `Catalog.metric_formula`)."""

from dataclasses import dataclass, field
from decimal import Decimal

AGGREGATES = frozenset({"SUM", "AVG", "COUNT", "COUNT_DISTINCT", "MIN", "MAX", "FIRST", "LAST", "PERCENTILE"})
PERIOD_WRAPPERS = frozenset({"AT_START", "AT_END"})  # semi-additive: the aggregate at the period's first/last time
BOUNDARIES = frozenset({"PERIOD_START", "PERIOD_END"})  # the bucket's bounds, for filters
SCALARS = {"IF": (3, 3), "COALESCE": (2, 16), "ABS": (1, 1), "ROUND": (1, 2)}


class Node:
    """Base of every AST node. `position` is the character offset of the
    node's first token in the formula (for error messages)."""

    position: int


@dataclass(frozen=True)
class Number(Node):
    value: Decimal
    position: int = 0


@dataclass(frozen=True)
class String(Node):
    value: str
    position: int = 0


@dataclass(frozen=True)
class Boolean(Node):
    value: bool
    position: int = 0


@dataclass(frozen=True)
class Null(Node):
    position: int = 0


@dataclass(frozen=True)
class Name(Node):
    """An attribute of the metric's entity (inside aggregates and filters) or
    another metric (outside them): which one is settled by validation."""

    name: str
    position: int = 0


@dataclass(frozen=True)
class Placeholder(Node):
    """`{user.<attribute>}` in a row policy's predicate: a value of the
    signed-in user, bound as a parameter when the predicate is compiled."""

    name: str
    position: int = 0


@dataclass(frozen=True)
class Star(Node):
    """`*` in COUNT(*)."""

    position: int = 0


@dataclass(frozen=True)
class Call(Node):
    function: str  # upper case
    args: tuple[Node, ...]
    filter: Node | None = None  # `... WHERE <condition>` after an aggregate
    position: int = 0


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-", "+", "NOT"
    operand: Node
    position: int = 0


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / % = != < <= > >= AND OR LIKE
    left: Node
    right: Node
    position: int = 0


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool = False
    position: int = 0


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    items: tuple[Node, ...]
    negated: bool = False
    position: int = 0


@dataclass(frozen=True)
class Between(Node):
    operand: Node
    low: Node
    high: Node
    negated: bool = False
    position: int = 0


@dataclass(frozen=True)
class Case(Node):
    whens: tuple[tuple[Node, Node], ...]
    default: Node | None = None
    position: int = 0


@dataclass(frozen=True)
class Condition:
    """A parsed row-policy predicate: the tree, the attribute paths it names
    and the `{user.<attribute>}` placeholders it uses."""

    root: Node
    paths: frozenset[str] = field(default_factory=frozenset)
    placeholders: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Formula:
    """A parsed formula and what it refers to."""

    root: Node
    attributes: frozenset[str] = field(default_factory=frozenset)  # used inside aggregates or filters
    metrics: frozenset[str] = field(default_factory=frozenset)  # names used outside aggregates
    functions: frozenset[str] = field(default_factory=frozenset)
