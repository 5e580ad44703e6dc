"""The generators on their own (no database): reproducible, shaped as
asked, and their parameters checked with errors that name the parameter."""

import itertools
import math
from collections import defaultdict
from datetime import date, timedelta
from statistics import mean

import pytest

from apps.core.errors import AppError
from apps.simulation.generators import scenario_build
from apps.simulation.generators.time_series import Peak, Seasonality, _generate_time_series


def _rows(scenario, batch_rows=5_000) -> list[dict]:
    return [row for batch in scenario.batches(batch_rows=batch_rows) for row in batch.rows]


# -- _generate_time_series ------------------------------------------------------------------


def test_same_seed_same_series_other_seed_other_series():
    args = {
        "start": date(2026, 1, 1),
        "days": 120,
        "base": 50.0,
        "trend": 0.3,
        "seasonality": (Seasonality.weekly(0.2),),
        "noise": 0.2,
    }
    first = _generate_time_series(**args, seed=7)
    assert first == _generate_time_series(**args, seed=7)
    assert first != _generate_time_series(**args, seed=8)
    assert [day for day, _ in first] == [date(2026, 1, 1) + timedelta(days=i) for i in range(120)]
    assert all(value >= 0 for _, value in first)


def test_a_positive_trend_makes_every_month_higher_than_the_one_before():
    series = _generate_time_series(start=date(2025, 1, 1), days=365, base=100.0, trend=1.0, noise=0.1, seed=1)
    by_month = defaultdict(list)
    for day, value in series:
        by_month[day.month].append(value)
    means = [mean(by_month[m]) for m in range(1, 13)]
    assert means == sorted(means)
    # +100% a year, linear: December is about twice January.
    assert 1.8 < means[-1] / means[0] < 2.1


def test_weekly_seasonality_has_the_amplitude_and_peak_asked_for():
    series = _generate_time_series(
        start=date(2026, 3, 2), days=28, base=100.0, seasonality=(Seasonality.weekly(0.5, peak_weekday=2),)
    )
    values = dict(series)
    highest = max(values, key=values.get)
    lowest = min(values, key=values.get)
    assert highest.weekday() == 2  # Wednesday
    assert values[highest] == pytest.approx(150.0, rel=0.01)
    # Whole days sample the cycle: its trough falls half way between Saturday and Sunday.
    assert lowest.weekday() in (5, 6)
    assert values[lowest] == pytest.approx(100 * (1 + 0.5 * math.cos(2 * math.pi * 3 / 7)))
    assert mean(values.values()) == pytest.approx(100.0, rel=0.02)  # seasonality moves, it does not add


def test_yearly_peak_lifts_its_month_and_leaves_the_rest():
    series = dict(
        _generate_time_series(start=date(2025, 1, 1), days=365, base=10.0, peaks=(Peak(month=12, factor=4.0),))
    )
    assert series[date(2025, 12, 15)] == pytest.approx(40.0)
    assert series[date(2025, 12, 5)] == pytest.approx(10.0 + 30.0 * 0.6065, rel=0.01)  # one width away
    assert series[date(2025, 6, 15)] == pytest.approx(10.0)


# -- Health Retention ---------------------------------------------------------------------------


def _counts_by_period(rows: list[dict], periods: list[tuple[date, date]]) -> dict:
    """S/E/N per (period, LOB) as the retention metrics define them, from
    the rows: S at the last snapshot before the period, E at its last one,
    N the Active ones at E that started in the period."""
    by_day = defaultdict(list)
    for row in rows:
        by_day[date.fromisoformat(row["snapshot_date"])].append(row)
    result = {}
    for first, after in periods:
        opening = max(d for d in by_day if d < first)
        closing = max(d for d in by_day if d < after)
        for lob in {r["lob"] for r in rows}:
            active_open = {r["policy_id"] for r in by_day[opening] if r["lob"] == lob and r["status"] == "Active"}
            active_close = [r for r in by_day[closing] if r["lob"] == lob and r["status"] == "Active"]
            new = {r["policy_id"] for r in active_close if date.fromisoformat(r["start_date"]) >= first}
            result[(first.isoformat(), lob)] = (len(active_open), len(active_close), len(new))
    return result


def test_health_retention_rows_hold_the_counts_asked_for_in_every_period():
    scenario = scenario_build(
        code="health_retention",
        start=date(2026, 1, 1),
        end=date(2026, 4, 1),
        params={
            "lobs": {"Health": {"start": 600, "end": 570, "new": 30}, "Motor": {"start": 400, "end": 380, "new": 20}}
        },
    )
    rows = _rows(scenario)
    assert len(rows) == scenario.rows_planned()
    periods = [
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 3, 1)),
        (date(2026, 3, 1), date(2026, 4, 1)),
    ]
    expected = {(c["period"], c["lob"]): (c["start"], c["end"], c["new"]) for c in scenario.expected()["counts"]}
    assert _counts_by_period(rows, periods) == expected
    assert expected[("2026-01-01", "Health")] == (600, 570, 30)
    assert expected[("2026-01-01", "Motor")] == (400, 380, 20)
    # Later months keep the rates: 90% kept, 5% new of each opening book.
    assert expected[("2026-02-01", "Health")] == (570, 542, 29)
    # One snapshot a day (and the opening one the day before), each policy once a day.
    days = {r["snapshot_date"] for r in rows}
    assert len(days) == 91
    assert min(days) == "2025-12-31"
    assert len({(r["snapshot_date"], r["policy_id"]) for r in rows}) == len(rows)
    # A dropped policy shows Terminated once, then is gone.
    terminated = [r for r in rows if r["status"] == "Terminated"]
    assert len(terminated) == sum(s - (e - n) for s, e, n in expected.values())
    later = {(r["policy_id"]) for r in rows if r["snapshot_date"] > terminated[0]["snapshot_date"]}
    assert terminated[0]["policy_id"] not in later


def test_counts_per_period_can_be_given_one_by_one():
    scenario = scenario_build(
        code="health_retention",
        start=date(2026, 3, 30),
        end=date(2026, 4, 2),
        params={"period": "day", "lobs": {"Health": [{"start": 10, "end": 9, "new": 1}, {"end": 12, "new": 4}]}},
    )
    counts = [(c["start"], c["end"], c["new"]) for c in scenario.expected()["counts"]]
    # The third day carries the second one's rates: 8/9 kept, 4/9 new of 12.
    assert counts == [(10, 9, 1), (9, 12, 4), (12, 16, 5)]
    days = [date(2026, 3, 30) + timedelta(days=i) for i in range(4)]
    periods = list(itertools.pairwise(days))
    assert list(_counts_by_period(_rows(scenario), periods).values()) == counts


def test_same_seed_same_rows_other_seed_other_rows():
    def build(seed):
        return scenario_build(
            code="health_retention",
            start=date(2026, 1, 5),
            end=date(2026, 1, 26),
            params={"period": "week", "seed": seed},
        )

    assert _rows(build(3)) == _rows(build(3))
    assert _rows(build(3)) != _rows(build(4))
    # Batch size changes the cut, not the rows.
    assert _rows(build(3), batch_rows=1_000) == _rows(build(3), batch_rows=50_000)


def test_churn_spike_drops_spike_churn_of_the_book_in_the_window():
    scenario = scenario_build(
        code="churn_spike",
        start=date(2026, 1, 5),
        end=date(2026, 2, 2),
        params={
            "period": "week",
            "lobs": {"Health": {"start": 1000, "end": 1000, "new": 50}},
            "spike_start": "2026-01-19",
            "spike_end": "2026-01-26",
            "spike_churn": 0.3,
        },
    )
    rates = [c["retention_rate"] for c in scenario.expected()["counts"]]
    # After the spike the smaller book keeps its usual rate, to the nearest whole policy (713 of 750).
    assert rates == [0.95, 0.95, 0.7, pytest.approx(0.95, abs=0.001)]
    assert [c["start"] for c in scenario.expected()["counts"]] == [1000, 1000, 1000, 750]


def test_sales_growth_orders_grow_and_repeat():
    def build(seed=5):
        return scenario_build(
            code="sales_growth", start=date(2026, 1, 1), end=date(2026, 7, 1), params={"growth": 2.0, "seed": seed}
        )

    rows = _rows(build())
    assert rows == _rows(build())
    assert rows != _rows(build(6))
    people = [r for r in rows if "region" in r]
    orders = [r for r in rows if "order_id" in r]
    assert sorted({p["region"] for p in people}) == ["APAC", "EU", "US"]
    assert len(people) == 13
    assert {o["salesperson_id"] for o in orders} <= {p["salesperson_id"] for p in people}
    by_month = defaultdict(float)
    for order in orders:
        by_month[order["ordered_at"][:7]] += float(order["amount"])
    assert by_month["2026-06"] > 1.5 * by_month["2026-01"]
    assert len({o["order_id"] for o in orders}) == len(orders)


def test_seasonal_peak_orders_peak_in_the_peak_month():
    scenario = scenario_build(
        code="seasonal_peak", start=date(2025, 9, 1), end=date(2026, 3, 1), params={"peak_month": 12, "noise": 0}
    )
    per_month = defaultdict(int)
    for region_counts in scenario.order_counts().values():
        for offset, count in enumerate(region_counts):
            per_month[(date(2025, 9, 1) + timedelta(days=offset)).month] += count
    assert max(per_month, key=per_month.get) == 12
    assert per_month[12] > 1.8 * per_month[10]


# -- parameters that cannot be --------------------------------------------------------------------


def _error(code="health_retention", start=date(2026, 1, 1), end=date(2026, 3, 1), **params) -> AppError:
    with pytest.raises(AppError) as caught:
        scenario_build(code=code, start=start, end=end, params=params)
    assert caught.value.status_code == 400
    return caught.value


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        (
            {"lobs": {"Health": {"start": 1000, "end": 1100, "new": 50}}},
            "params.lobs.Health.end",
            "cannot exceed Start + New",
        ),
        (
            {"lobs": {"Health": {"start": 1000, "end": 40, "new": 50}}},
            "params.lobs.Health.end",
            "cannot be less than New",
        ),
        (
            {"lobs": {"Health": {"start": -5, "end": 0, "new": 0}}},
            "params.lobs.Health.start",
            "greater than or equal to 0",
        ),
        (
            {"lobs": {"Health": {"start": 10, "end": 9, "new": -1}}},
            "params.lobs.Health.new",
            "greater than or equal to 0",
        ),
        ({"lobs": {"Health": {"end": 9, "new": 1}}}, "params.lobs.Health.start", "needs a start count"),
        (
            {"lobs": {"Health": [{"start": 10, "end": 9, "new": 1}, {"start": 10, "end": 9, "new": 1}]}},
            "params.lobs.Health[1].start",
            "must equal the previous period's End (9)",
        ),
        ({"lobs": {"Health": [{"start": 1, "end": 1, "new": 0}] * 3}}, "params.lobs.Health", "the range has 2 months"),
        ({"period": "year"}, "params.period", "'day', 'week', 'month' or 'quarter'"),
        ({"seeds": 4}, "params.seeds", "Extra inputs are not permitted"),
        ({"lobs": {"Health": {"start": 10_000_000, "end": 10_000_000, "new": 0}}}, "params.lobs", "at most 5,000,000"),
    ],
)
def test_impossible_retention_parameters_name_the_parameter(params, field, words):
    error = _error(**params)
    assert error.details["field"] == field
    assert words in error.message
    assert error.message.startswith(field)


def test_a_range_not_starting_a_period_names_start():
    error = _error(start=date(2026, 1, 14), period="month")
    assert error.details["field"] == "start"
    assert "2026-01-01" in error.message


def test_churn_spike_and_seasonal_peak_windows_must_be_inside_the_range():
    error = _error("churn_spike", spike_start="2026-05-01")
    assert error.details["field"] == "params.spike_start"
    error = _error("churn_spike", spike_start="2026-02-01", spike_end="2026-01-15")
    assert error.details["field"] == "params.spike_end"
    error = _error("churn_spike", spike_churn=1.5)
    assert error.details["field"] == "params.spike_churn"
    error = _error("seasonal_peak", peak_month=7)
    assert error.details["field"] == "params.peak_month"
    error = _error("sales_growth", regions={"EU": {"people": 0, "orders_per_day": 1, "avg_amount": 5}})
    assert error.details["field"] == "params.regions.EU.people"


def test_unknown_scenario_names_it():
    error = _error("tea_party")
    assert (error.code, error.details["field"]) == ("unknown_scenario", "scenario")
