"""What the database refuses while computing is a 422 `calculation_failed`,
never a 500: the data (division by zero, an overflow) or types PostgreSQL
cannot resolve (a definition stored before formulas were type-checked)."""

import pytest

from apps.calculations.runner import finite_value, sql_run
from apps.core.errors import AppError

pytestmark = pytest.mark.django_db(databases=["default", "readonly"])


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT 1 / 0", {}),  # DivisionByZero
        ("SELECT CAST(2147483647 AS int) + 1", {}),  # NumericValueOutOfRange
        ("SELECT CAST(%(p0)s AS date)", {"p0": "2026-02-30"}),  # DatetimeFieldOverflow
        ("SELECT CAST(%(p0)s AS int)", {"p0": "x"}),  # InvalidTextRepresentation
        ("SELECT SUM(%(p0)s)", {"p0": "3"}),  # AmbiguousFunction: sum(unknown)
        ("SELECT SUM(CAST(%(p0)s AS text))", {"p0": "3"}),  # UndefinedFunction: sum(text)
        ("SELECT CASE WHEN true THEN 1 ELSE CAST(%(p0)s AS date) END", {"p0": "2026-01-01"}),  # DatatypeMismatch
    ],
)
def test_database_errors_of_a_calculation_are_422(sql, params):
    with pytest.raises(AppError) as raised:
        sql_run(sql, params, using="readonly")
    assert (raised.value.status_code, raised.value.code) == (422, "calculation_failed")


@pytest.mark.parametrize("value", [float("inf"), float("nan"), "1e400", "2026-01-01", "abc"])
def test_a_value_that_is_not_a_finite_number_is_422_naming_the_metric(value):
    from decimal import Decimal

    number = Decimal(value) if value == "1e400" else value
    with pytest.raises(AppError) as raised:
        finite_value(number, metric="revenue")
    assert raised.value.status_code == 422 and "'revenue'" in raised.value.message
