"""Synthetic daily time series: a level with a linear trend, calendar
seasonality (sine cycles and yearly peaks) and noise, reproducible from a
seed. Scenario generators turn these levels into rows (orders per day, the
amount of an order)."""

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

# Cycles are anchored to the calendar, not to the range: a weekly cycle peaks
# on the same weekday and a yearly one in the same season whatever the start.
EPOCH = date(2000, 1, 3)  # a Monday
YEAR_DAYS = 365.2425


@dataclass(frozen=True)
class Seasonality:
    """A sine cycle of `period_days`: the level times `1 + amplitude` at its
    highest, `1 - amplitude` at its lowest, highest `peak_day` days into the
    cycle (days since 2000-01-03, a Monday). Use `weekly` and `yearly`."""

    period_days: float
    amplitude: float
    peak_day: float = 0.0

    @classmethod
    def weekly(cls, amplitude: float, *, peak_weekday: int = 2) -> "Seasonality":
        """Highest on `peak_weekday` (0 = Monday), lowest half a week later."""
        return cls(7.0, amplitude, float(peak_weekday))

    @classmethod
    def yearly(cls, amplitude: float, *, peak_day_of_year: int = 180) -> "Seasonality":
        offset = (date(EPOCH.year, 1, 1) + timedelta(days=peak_day_of_year - 1) - EPOCH).days
        return cls(YEAR_DAYS, amplitude, float(offset))

    def factor(self, day: date) -> float:
        phase = ((day - EPOCH).days - self.peak_day) / self.period_days
        return 1.0 + self.amplitude * math.cos(2 * math.pi * phase)


@dataclass(frozen=True)
class Peak:
    """A yearly bump: the level times `factor` on `month`/`day`, fading
    like a bell curve with `width_days` (one standard deviation) either side."""

    month: int
    factor: float
    width_days: float = 10.0
    day: int = 15

    def factor_on(self, day: date) -> float:
        centre = date(day.year, self.month, min(self.day, 28))
        # The nearest occurrence: a December peak also lifts early January.
        distance = min(abs((day - centre.replace(year=day.year + k)).days) for k in (-1, 0, 1))
        return 1.0 + (self.factor - 1.0) * math.exp(-0.5 * (distance / self.width_days) ** 2)


def _generate_time_series(
    *,
    start: date,
    days: int,
    base: float,
    trend: float = 0.0,
    seasonality: tuple[Seasonality, ...] = (),
    peaks: tuple[Peak, ...] = (),
    noise: float = 0.0,
    seed: int | str = 0,
) -> list[tuple[date, float]]:
    """One value per day from `start` for `days` days:

        base * (1 + trend * years since start) * each seasonality factor
             * each peak factor * (1 + noise * N(0, 1)), never below 0.

    `trend` is linear growth per year (0.5: +50% after a year, relative to
    the start); `noise` the standard deviation of the relative error. The same
    arguments and seed always give the same series (the noise comes from a
    private `random.Random(seed)`, never the global one)."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets: reproducibility is the point
    series = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        level = base * (1.0 + trend * offset / YEAR_DAYS)
        for cycle in seasonality:
            level *= cycle.factor(day)
        for peak in peaks:
            level *= peak.factor_on(day)
        if noise:
            level *= 1.0 + noise * rng.gauss(0.0, 1.0)
        series.append((day, max(level, 0.0)))
    return series


def whole_count(value: float, rng: random.Random) -> int:
    """A whole number with `value` as its expectation (2.3 -> 2 or 3, 3 seven
    times in ten), so small levels keep their trend and seasonality."""
    whole = math.floor(value)
    return whole + (1 if rng.random() < value - whole else 0)
