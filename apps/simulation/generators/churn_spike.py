"""Churn Spike: a steady policy book (the Health Retention generator and its
definitions) that loses `spike_churn` of its opening policies in every
period touching the spike window, instead of its usual rate. Retention
dips in the window and the book is smaller afterwards."""

from datetime import date
from typing import Literal

from pydantic import Field

from apps.simulation.generators.base import ScenarioParams, param_error, period_next, period_start
from apps.simulation.generators.health_retention import Counts, HealthRetention, Lob, round_half_up


class ChurnSpikeParams(ScenarioParams):
    period: Literal["day", "week", "month", "quarter"] = "month"
    lobs: dict[Lob, Counts] = Field(
        default_factory=lambda: {
            "Health": Counts(start=600, end=600, new=30),
            "Motor": Counts(start=400, end=400, new=20),
        },
        min_length=1,
        max_length=20,
        description="per line of business, the counts of an ordinary period (their rates carry on)",
    )
    spike_start: date | None = Field(default=None, description="first day of the spike; default: the middle period")
    spike_end: date | None = Field(default=None, description="day after the spike (exclusive)")
    spike_churn: float = Field(default=0.25, ge=0, le=1, description="share of the opening book dropped per period")
    seed: int = 42


class ChurnSpike(HealthRetention):
    code = "churn_spike"
    name = "Churn Spike"
    description = (
        "A steady policy book that loses spike_churn of its policies in each period of the spike window; "
        "same definitions as Health Retention."
    )
    Params = ChurnSpikeParams

    def _lob_counts(self) -> dict[str, list[Counts]]:
        return {lob: [counts] for lob, counts in self.params.lobs.items()}

    def _counts_path(self, lob: str, index: int, items: list) -> str:
        return f"params.lobs.{lob}"

    def validate(self) -> None:
        params = self.params
        if params.spike_start is None:  # the period holding the middle of the range
            middle = self.start + (self.end - self.start) / 2
            params.spike_start = max(period_start(middle, params.period), self.start)
        if params.spike_end is None:
            params.spike_end = min(period_next(params.spike_start, params.period), self.end)
        if not self.start <= params.spike_start < self.end:
            raise param_error(
                "params.spike_start", f"{params.spike_start} is outside the range {self.start}..{self.end}."
            )
        if params.spike_end <= params.spike_start:
            raise param_error("params.spike_end", f"The spike must end after it starts ({params.spike_start}).")
        if params.spike_end > self.end:
            raise param_error("params.spike_end", f"{params.spike_end} is after the range's end {self.end}.")
        super().validate()

    def _retained(self, first: date, after: date, opening: int, retained: int) -> int:
        if first < self.params.spike_end and after > self.params.spike_start:
            return round_half_up(opening * (1 - self.params.spike_churn))
        return retained
