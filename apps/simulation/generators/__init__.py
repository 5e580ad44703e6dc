"""Scenario generators, one module per scenario, by code. `_generate_time_series`
(time_series.py) is the level every generator shapes its rows from."""

from datetime import date
from typing import Any

from apps.core.errors import AppError
from apps.simulation.generators.base import Scenario
from apps.simulation.generators.churn_spike import ChurnSpike
from apps.simulation.generators.health_retention import HealthRetention
from apps.simulation.generators.sales_growth import SalesGrowth
from apps.simulation.generators.seasonal_peak import SeasonalPeak

SCENARIOS: dict[str, type[Scenario]] = {s.code: s for s in (HealthRetention, SalesGrowth, ChurnSpike, SeasonalPeak)}


def scenario_build(*, code: str, start: date, end: date, params: Any = None) -> Scenario:
    """A scenario with its parameters checked (AppError 400 naming the parameter)."""
    scenario_class = SCENARIOS.get(code)
    if scenario_class is None:
        raise AppError(
            f"Unknown scenario {code!r}; use one of {', '.join(SCENARIOS)}.",
            code="unknown_scenario",
            details={"field": "scenario", "scenario": code},
        )
    return scenario_class(start=start, end=end, params=params)
