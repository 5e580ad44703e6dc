"""Formula AST (apps.ontology.types.formula) -> sqlglot expressions.

Every literal of a formula becomes a bound parameter; every name becomes a
quoted column. What a name or an aggregate turns into depends on where the
expression is compiled, which a `Scope` says."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from apps.calculations.rollup_spec import HLL_LOG2M, TDIGEST_COMPRESSION, RollupSpec
from apps.core.errors import AppError
from apps.ontology.types import formula as n
from apps.ontology.types.formula import AGGREGATES, PERIOD_WRAPPERS


class Params:
    """Bound values of one statement, named `p0, p1, ...` (and a few fixed
    names such as `start`/`end`), rendered by sqlglot as `%(name)s`."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> exp.Placeholder:
        return self.named(f"p{len(self.values)}", value)

    def named(self, name: str, value: Any) -> exp.Placeholder:
        self.values[name] = value
        return exp.Placeholder(this=name)


def quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(alias: str, name: str) -> exp.Column:
    return exp.Column(this=quoted(name), table=quoted(alias))


def numeric(expression: exp.Expression) -> exp.Expression:
    return exp.Cast(this=expression, to=exp.DataType.build("numeric"))


def safe_divide(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """Division in numeric (no integer division) that gives NULL on zero."""
    return exp.Div(this=numeric(left), expression=exp.Nullif(this=numeric(right), expression=exp.Literal.number(0)))


@dataclass
class Scope:
    """What names and aggregates mean where an expression is compiled.

    `attribute(name)` gives what a name means: an attribute's column inside
    aggregates and filters, another metric's value outside them; `aggregate`
    compiles a top-level aggregate call (inline, or as a reference to a
    column computed elsewhere); `period_start`/`period_end` the bucket's
    bounds; `time` the entity's time column (FIRST/LAST)."""

    params: Params
    attribute: Callable[[str], exp.Expression]
    aggregate: Callable[[n.Call], exp.Expression]
    period_start: exp.Expression | None = None
    period_end: exp.Expression | None = None
    time: exp.Expression | None = None
    entity: str = ""
    approximate: bool = False  # COUNT_DISTINCT through hll, PERCENTILE through t-digest
    rollup: RollupSpec | None = None  # aggregates merge this rollup's partial states
    used_columns: set[str] = field(default_factory=set)  # rollup columns the aggregates read
    attribute_types: dict[str, str] = field(default_factory=dict)  # attribute code -> ontology data type

    def data_type(self, node: n.Node) -> str:
        return self.attribute_types.get(node.name, "") if isinstance(node, n.Name) else ""


def _needs_time(function: str, scope: Scope) -> AppError:
    return AppError(
        f"{function} needs a time-series entity; {scope.entity!r} is a reference entity (it has no periods).",
        code="invalid_formula",
        details={"token": function},
    )


_COMPARISONS = {
    "=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "AND": exp.And,
    "OR": exp.Or, "LIKE": exp.Like, "+": exp.Add, "-": exp.Sub, "*": exp.Mul,
}  # fmt: skip


def compile_node(node: n.Node, scope: Scope) -> exp.Expression:
    if isinstance(node, n.Number):
        return scope.params.bind(node.value)
    if isinstance(node, n.String):
        return scope.params.bind(node.value)
    if isinstance(node, n.Boolean):
        return scope.params.bind(node.value)
    if isinstance(node, n.Null):
        return exp.Null()
    if isinstance(node, n.Name):
        return scope.attribute(node.name)
    if isinstance(node, n.Unary):
        operand = compile_node(node.operand, scope)
        if node.op == "NOT":
            return exp.Not(this=exp.Paren(this=operand))
        return exp.Neg(this=exp.Paren(this=operand)) if node.op == "-" else operand
    if isinstance(node, n.Binary):
        left, right = compile_node(node.left, scope), compile_node(node.right, scope)
        if node.op == "/":
            return exp.Paren(this=safe_divide(left, right))
        if node.op == "%":
            # In numeric, as `/`: PostgreSQL has no mod(bigint, double precision) (COUNT % PERCENTILE).
            divisor = exp.Nullif(this=numeric(right), expression=exp.Literal.number(0))
            return exp.Anonymous(this="MOD", expressions=[numeric(left), divisor])
        return exp.Paren(this=_COMPARISONS[node.op](this=left, expression=right))
    if isinstance(node, n.IsNull):
        test = exp.Is(this=compile_node(node.operand, scope), expression=exp.Null())
        return exp.Not(this=test) if node.negated else test
    if isinstance(node, n.InList):
        test = exp.In(this=compile_node(node.operand, scope), expressions=[compile_node(i, scope) for i in node.items])
        return exp.Not(this=exp.Paren(this=test)) if node.negated else test
    if isinstance(node, n.Between):
        operand, low, high = (compile_node(x, scope) for x in (node.operand, node.low, node.high))
        test = exp.Between(this=operand, low=low, high=high)
        return exp.Not(this=exp.Paren(this=test)) if node.negated else test
    if isinstance(node, n.Case):
        case = exp.Case(ifs=[exp.If(this=compile_node(c, scope), true=compile_node(v, scope)) for c, v in node.whens])
        if node.default is not None:
            case.set("default", compile_node(node.default, scope))
        return case
    if isinstance(node, n.Call):
        return _call(node, scope)
    raise AppError(f"Cannot compile {type(node).__name__}.", code="invalid_formula")


def _call(node: n.Call, scope: Scope) -> exp.Expression:
    function = node.function
    if function in AGGREGATES or function in PERIOD_WRAPPERS:
        return scope.aggregate(node)
    if function == "PERIOD_START":
        if scope.period_start is None:
            raise _needs_time(function, scope)
        return scope.period_start
    if function == "PERIOD_END":
        if scope.period_end is None:
            raise _needs_time(function, scope)
        return scope.period_end
    args = [compile_node(a, scope) for a in node.args]
    if function == "IF":
        return exp.Case(ifs=[exp.If(this=args[0], true=args[1])], default=args[2])
    if function == "COALESCE":
        return exp.Coalesce(this=args[0], expressions=args[1:])
    if function == "ABS":
        return exp.Abs(this=args[0])
    if function == "ROUND":
        digits = exp.Cast(this=args[1], to=exp.DataType.build("int")) if len(args) > 1 else None
        return exp.Round(this=numeric(args[0]), decimals=digits)
    raise AppError(f"Function {function} is not in the formula library.", code="invalid_formula")


# percentile_cont's interpolation over a t-digest's centroids (calculations migration 0004):
# exact while the digest keeps every value, so approximate mode agrees with exact mode.
PERCENTILE_OF_DIGEST = "ae_tdigest_percentile_cont"


def _func(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def compile_aggregate(node: n.Call, scope: Scope, *, condition: exp.Expression | None = None) -> exp.Expression:
    """One aggregate over the rows of `scope`'s entity, with its WHERE filter
    (and `condition`, e.g. "the row is at the period's last time") as a
    FILTER clause on every aggregate call it becomes. Over a rollup
    (`scope.rollup`) the aggregate merges partial states instead; in
    approximate mode COUNT_DISTINCT and PERCENTILE use hll and t-digest."""
    compiled: list[exp.Expression | None] = []

    def filtered(aggregate: exp.Expression) -> exp.Expression:
        # The filter is compiled once, after the aggregate's arguments (bound parameters keep formula order).
        if not compiled:
            found = [c for c in (compile_node(node.filter, scope) if node.filter else None, condition) if c is not None]
            compiled.append(
                found[0] if len(found) == 1 else exp.And(this=found[0], expression=found[1]) if found else None
            )
        where = compiled[0]
        return aggregate if where is None else exp.Filter(this=aggregate, expression=exp.Where(this=where.copy()))

    if scope.rollup is not None:
        return _merge(node, scope, filtered)
    function = node.function
    args = [a for a in node.args if not isinstance(a, n.Star)]
    if function == "COUNT":
        return filtered(exp.Count(this=compile_node(args[0], scope) if args else exp.Star()))
    if function == "COUNT_DISTINCT":
        value = compile_node(args[0], scope)
        if scope.approximate:
            if scope.data_type(args[0]) == "decimal":  # 1.0 and 1.00 hash apart (as the rollups' refresh does)
                value = _func("trim_scale", value)
            sketch = filtered(_func("hll_add_agg", _func("hll_hash_any", value), exp.Literal.number(HLL_LOG2M)))
            return exp.Coalesce(this=_func("hll_cardinality", sketch), expressions=[exp.Literal.number(0)])
        return filtered(exp.Count(this=exp.Distinct(expressions=[value])))
    if function in ("FIRST", "LAST"):
        if scope.time is None:
            raise _needs_time(function, scope)
        return filtered(exp.Anonymous(this=function, expressions=[compile_node(args[0], scope), scope.time]))
    if function == "PERCENTILE":
        fraction = exp.Cast(this=compile_node(args[1], scope), to=exp.DataType.build("double"))
        value = compile_node(args[0], scope)
        if scope.approximate:
            double = exp.Cast(this=value, to=exp.DataType.build("double"))
            digest = filtered(_func("tdigest", double, exp.Literal.number(TDIGEST_COMPRESSION)))
            return _func(PERCENTILE_OF_DIGEST, digest, fraction)
        return filtered(
            exp.WithinGroup(
                this=exp.PercentileCont(this=fraction), expression=exp.Order(expressions=[exp.Ordered(this=value)])
            )
        )
    aggregate = {"SUM": exp.Sum, "AVG": exp.Avg, "MIN": exp.Min, "MAX": exp.Max}[function]
    return filtered(aggregate(this=compile_node(args[0], scope)))


def _merge(node: n.Call, scope: Scope, filtered: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """The aggregate from a rollup's partial states (the router checked the
    rollup carries them): sums of sums and counts, min of mins, unions of
    hll sketches, percentiles read from the merge of the t-digests."""
    rollup, function = scope.rollup, node.function
    attribute = node.args[0].name if node.args and isinstance(node.args[0], n.Name) else None

    def state(name: str) -> exp.Expression:
        column_name = rollup.row_count_column if name == "rows" else rollup.states[(attribute, name)]
        scope.used_columns.add(column_name)
        return column("e", column_name)

    zero = exp.Literal.number(0)
    if function == "COUNT":
        total = filtered(exp.Sum(this=state("count" if attribute else "rows")))
        return exp.Coalesce(this=total, expressions=[zero])
    if function == "SUM":
        return filtered(exp.Sum(this=state("sum")))
    if function == "AVG":
        return exp.Paren(this=safe_divide(filtered(exp.Sum(this=state("sum"))), filtered(exp.Sum(this=state("count")))))
    if function in ("MIN", "MAX"):
        aggregate = exp.Min if function == "MIN" else exp.Max
        return filtered(aggregate(this=state(function.lower())))
    if function == "COUNT_DISTINCT":
        union = filtered(_func("hll_union_agg", state("hll")))
        return exp.Coalesce(this=_func("hll_cardinality", union), expressions=[zero])
    if function == "PERCENTILE":
        fraction = exp.Cast(this=compile_node(node.args[1], scope), to=exp.DataType.build("double"))
        return _func(PERCENTILE_OF_DIGEST, filtered(_func("tdigest", state("tdigest"))), fraction)
    raise AppError(f"{function} cannot be answered from a rollup.", code="invalid_route")
