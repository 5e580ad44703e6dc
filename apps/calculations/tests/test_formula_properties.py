"""Property (issue 15, "input"): any formula over an entity with one
attribute of each type is either refused at definition with a 400, or
computes with a 200, on the metrics API and the ad-hoc query, against the
real database. Never a 500, never a 422 from a type PostgreSQL refused."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.calculations.tests.typed_fixtures import ATTRIBUTE_TYPES, MONTH, every_type_define
from apps.core.tests.assertions import assert_error

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

ATTRIBUTES = sorted(ATTRIBUTE_TYPES)
STRINGS = ["'a'", "''", "'x%'", "'3'", "'2.5'", "'true'", "'2026-03-02'", "'2026-03-02T10:00:00Z'", "'{\"a\": 1}'"]
NUMBERS = ["0", "1", "2.5", "1000", "0.001", "1e3"]
LITERALS = st.sampled_from([*STRINGS, *NUMBERS, "TRUE", "FALSE", "NULL"])
AGGREGATES = ["SUM", "AVG", "MIN", "MAX", "COUNT", "COUNT_DISTINCT", "FIRST", "LAST"]
COMPARE = ["=", "!=", "<", "<=", ">", ">="]


def _value(depth: int) -> st.SearchStrategy[str]:
    """An expression over rows (inside an aggregate or a filter)."""
    leaf = st.one_of(st.sampled_from(ATTRIBUTES), LITERALS, st.just("PERIOD_START()"))
    if depth <= 0:
        return leaf
    inner = _value(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner),
        st.builds(lambda c, a, b: f"CASE WHEN {c} THEN {a} ELSE {b} END", _condition(depth - 1), inner, inner),
        st.builds(lambda c, a, b: f"IF({c}, {a}, {b})", _condition(depth - 1), inner, inner),
        st.builds(lambda a, b: f"COALESCE({a}, {b})", inner, inner),
        st.builds(lambda a: f"ABS({a})", inner),
        st.builds(lambda a: f"-{a}", inner),
    )


def _condition(depth: int) -> st.SearchStrategy[str]:
    value = _value(max(0, depth - 1))
    simple = st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", value, st.sampled_from(COMPARE), value),
        st.builds(lambda a, b: f"{a} LIKE {b}", value, value),
        st.builds(lambda a, b, c: f"{a} BETWEEN {b} AND {c}", value, value, value),
        st.builds(lambda a, items: f"{a} IN ({', '.join(items)})", value, st.lists(value, min_size=1, max_size=3)),
        st.builds(lambda a: f"{a} IS NULL", value),
        st.sampled_from(ATTRIBUTES),
        st.sampled_from(["TRUE", "'true'", "NULL"]),
    )
    if depth <= 0:
        return simple
    inner = _condition(depth - 1)
    return st.one_of(
        simple,
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["AND", "OR"]), inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    )


def _aggregate() -> st.SearchStrategy[str]:
    call = st.one_of(
        st.builds(lambda f, v: f"{f}({v})", st.sampled_from(AGGREGATES), _value(2)),
        st.builds(lambda v, p: f"PERCENTILE({v}, {p})", _value(1), st.sampled_from(["0", "0.5", "1"])),
        st.just("COUNT(*)"),
    )
    filtered = st.builds(lambda a, c: f"({a} WHERE {c})", call, _condition(2))
    return st.one_of(call, filtered, st.builds(lambda w, a: f"{w}({a})", st.sampled_from(["AT_START", "AT_END"]), call))


def _formula() -> st.SearchStrategy[str]:
    aggregate = _aggregate()
    return st.one_of(
        aggregate,
        st.builds(lambda a, op, b: f"{a} {op} {b}", aggregate, st.sampled_from(["+", "-", "*", "/", "%"]), aggregate),
        st.builds(lambda a, n: f"ROUND({a}, {n})", aggregate, st.sampled_from(["0", "2", "-1", "'2'", "NULL"])),
        st.builds(lambda a, op, b: f"{a} {op} {b}", aggregate, st.sampled_from(COMPARE), aggregate),
        st.builds(lambda a, b, c: f"IF({a} > {b}, {a}, {c})", aggregate, aggregate, st.one_of(aggregate, LITERALS)),
        st.builds(lambda a, b: f"COALESCE({a}, {b})", aggregate, st.one_of(aggregate, LITERALS)),
    )


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    api_client.raise_request_exception = False
    every_type_define(api_client)
    return api_client


def test_every_formula_is_refused_with_400_or_computes_with_200(api):
    codes = (f"p{n}" for n in itertools.count())

    @settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(formula=_formula())
    def check(formula):
        code = next(codes)
        defined = api.post(
            "/api/v1/ontology/metrics/", {"code": code, "name": code, "formula": formula, "entity": "thing"},
            format="json",
        )  # fmt: skip
        assert defined.status_code in (201, 400), (formula, defined.status_code, defined.content[:300])
        query = {"entity": "thing", "measures": {"m": formula}, "range": {"start": MONTH["start"], "end": MONTH["end"]},
                 "granularity": "day"}  # fmt: skip
        adhoc = api.post("/api/v1/query/", query, format="json")
        if defined.status_code == 400:
            assert_error(defined)
            assert adhoc.status_code == 400, (formula, adhoc.status_code, adhoc.content[:300])
            return
        computed = api.get(f"/api/v1/metrics/{code}", {**MONTH, "granularity": "day"})
        assert computed.status_code == 200, (formula, computed.status_code, computed.content[:300])
        assert adhoc.status_code == 200, (formula, adhoc.status_code, adhoc.content[:300])

    check()
