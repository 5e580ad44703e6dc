"""The formula language: parsing to the AST and the checks against the
ontology (no database needed)."""

import dataclasses
from decimal import Decimal

import pytest

from apps.core.errors import AppError
from apps.ontology.formula import formula_parse
from apps.ontology.types import formula as n

ATTRIBUTES = {"policy_id", "status", "start_date", "snapshot_date", "lob", "premium"}
METRICS = {"start_count", "end_count", "new_count", "revenue", "headcount"}


def shape(node):
    """A node without source positions, for comparing trees."""
    if isinstance(node, tuple):
        return tuple(shape(item) for item in node)
    if isinstance(node, n.Node):
        return dataclasses.replace(
            node,
            position=0,
            **{f.name: shape(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name != "position"},
        )
    return node


def parse(text: str) -> n.Formula:
    return formula_parse(
        text, attributes=ATTRIBUTES, is_metric=lambda name: name in METRICS or name.lower() in {
            "startcount", "endcount", "newcount"}, entity="policy_snapshot",
    )  # fmt: skip


def formula_text_index(word: str) -> int:
    return "COUNT_DISTINCT(policy_id) WHERE status = 'Active'".index(word)


def test_a_filtered_base_measure():
    formula = parse("COUNT_DISTINCT(policy_id) WHERE status = 'Active'")
    assert shape(formula.root) == n.Call(
        "COUNT_DISTINCT", (n.Name("policy_id"),), n.Binary("=", n.Name("status"), n.String("Active"))
    )
    assert formula.root.filter.left.position == formula_text_index("status")
    assert formula.attributes == {"policy_id", "status"}
    assert formula.metrics == frozenset()
    assert formula.functions == {"COUNT_DISTINCT"}


def test_derived_metrics_and_precedence():
    formula = parse("1 - ((StartCount - EndCount) / StartCount)")
    assert formula.metrics == {"StartCount", "EndCount"}
    root = formula.root
    assert isinstance(root, n.Binary) and root.op == "-" and root.left == n.Number(Decimal(1), 0)
    division = root.right
    assert division.op == "/" and division.left.op == "-" and division.right.name == "StartCount"
    assert parse("revenue / headcount").metrics == {"revenue", "headcount"}
    # * binds tighter than +, AND tighter than OR, NOT applies to the comparison.
    sums = parse("SUM(premium) + SUM(premium) * 2").root
    assert sums.op == "+" and sums.right.op == "*"
    filtered = parse("COUNT(policy_id) WHERE NOT status = 'x' OR lob = 'a' AND lob = 'b'").root.filter
    assert filtered.op == "OR" and filtered.left.op == "NOT" and filtered.right.op == "AND"


def test_semi_additive_measures_and_period_boundaries():
    start = parse("AT_START(COUNT_DISTINCT(policy_id) WHERE status = 'Active')").root
    assert start.function == "AT_START" and start.args[0].function == "COUNT_DISTINCT"
    new = parse("AT_END(COUNT_DISTINCT(policy_id) WHERE start_date >= PERIOD_START())").root
    assert shape(new.args[0].filter.right) == n.Call("PERIOD_START", ())


def test_conditions_case_and_scalar_functions():
    formula = parse(
        "SUM(CASE WHEN lob IN ('Health', 'Dental') THEN premium ELSE 0 END) WHERE start_date IS NOT NULL "
        "AND premium BETWEEN 10 AND 20 AND lob NOT LIKE 'X%'"
    )
    condition = formula.root.filter
    assert isinstance(condition.left.left, n.IsNull) and condition.left.left.negated
    assert isinstance(condition.left.right, n.Between)
    assert shape(condition.right) == n.Unary("NOT", n.Binary("LIKE", n.Name("lob"), n.String("X%")))
    assert parse("ROUND(COALESCE(revenue / headcount, 0), 2)").functions == {"ROUND", "COALESCE"}
    assert parse("IF(revenue > 0, revenue, 0)").functions == {"IF"}
    assert shape(parse("COUNT(*)").root.args) == (n.Star(),)
    assert shape(parse("PERCENTILE(premium, 0.95)").root.args[1]) == n.Number(Decimal("0.95"))


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("premium * 2", "unaggregated_attribute", "Attribute 'premium' is used outside an aggregate"),
        ("SUM(revenue)", "invalid_formula", "Metric 'revenue' cannot be used inside an aggregate"),
        ("SUM(claims)", "unknown_reference", "Unknown name 'claims'"),
        ("SUM(SUM(premium))", "invalid_formula", "SUM(...) cannot appear inside another aggregate"),
        ("COUNT(policy_id) WHERE SUM(premium) > 1", "invalid_formula", "cannot appear inside another aggregate"),
        ("ABS(premium) WHERE lob = 'x'", "invalid_formula", "ABS(...) cannot take one"),
        ("AT_END(premium)", "invalid_formula", "AT_END takes one aggregate"),
        ("SUM(premium) + PERIOD_START()", "invalid_formula", "PERIOD_START() takes no arguments"),
        ("PERCENTILE(premium, 95)", "invalid_formula", "fraction between 0 and 1"),
        ("SUM(premium, lob)", "invalid_formula", "SUM takes exactly one argument"),
        ("SUM(*)", "invalid_formula", "SUM takes exactly one argument"),
        ("IF(revenue > 0, revenue)", "invalid_formula", "IF takes 3 arguments, not 2"),
        ("1 + 2", "invalid_formula", "needs at least one aggregate"),
        ("SUM(premium) SUM(premium)", "invalid_formula", "Unexpected SUM after a complete formula"),
        ("SUM(premium) +", "invalid_formula", "ends too early"),
        ("CASE END", "invalid_formula", "CASE needs at least one WHEN"),
        ("COUNT(policy_id) WHERE lob IN ('a' 'b')", "invalid_formula", "Expected ) closing the IN list"),
        ("VLOOKUP(policy_id)", "invalid_formula", "Function VLOOKUP is not in the formula library"),
        ("SUM(premium); DROP TABLE x", "invalid_formula", "; is not allowed"),
    ],
)
def test_bad_formulas_name_the_problem(text, code, fragment):
    with pytest.raises(AppError) as caught:
        parse(text)
    assert caught.value.code == code
    assert fragment in caught.value.message
