"""Seasonal Peak: the Sales Growth generator and definitions with a strong
yearly peak in one month (a holiday rush): order volume rises to
`peak_factor` times its usual level around the 15th of `peak_month`, fading
over `peak_width_days` (one standard deviation of a bell curve) either side.
Flat otherwise unless `growth` says so; the weekly cycle and noise remain."""

from pydantic import Field

from apps.simulation.generators.base import param_error, period_next, period_start
from apps.simulation.generators.sales_growth import SalesGrowth, SalesGrowthParams
from apps.simulation.generators.time_series import Peak


class SeasonalPeakParams(SalesGrowthParams):
    growth: float = Field(default=0.0, ge=-1, le=20, description="order volume growth per year")
    amount_growth: float = Field(default=0.0, ge=-1, le=20, description="average amount growth per year")
    yearly_amplitude: float = Field(default=0.0, ge=0, le=1, description="seasonal swing besides the peak")
    peak_month: int | None = Field(default=None, ge=1, le=12, description="default: the month mid-range")
    peak_factor: float = Field(default=3.0, ge=1, le=50, description="order volume at the peak, times usual")
    peak_width_days: float = Field(default=10.0, ge=1, le=90)


class SeasonalPeak(SalesGrowth):
    code = "seasonal_peak"
    name = "Seasonal Peak"
    description = (
        "Sales orders by region with a strong yearly peak in one month (peak_factor times the usual volume); "
        "same definitions as Sales Growth."
    )
    Params = SeasonalPeakParams

    def validate(self) -> None:
        params = self.params
        if params.peak_month is None:
            params.peak_month = (self.start + (self.end - self.start) / 2).month
        months, cursor = set(), period_start(self.start, "month")
        while cursor < self.end:
            months.add(cursor.month)
            cursor = period_next(cursor, "month")
        if params.peak_month not in months:
            raise param_error(
                "params.peak_month",
                f"The range {self.start}..{self.end} has no day in month {params.peak_month}; "
                "pick a month inside the range so the peak shows.",
            )
        super().validate()

    def _level_bound(self) -> float:
        return self.params.peak_factor

    def _peaks(self) -> tuple[Peak, ...]:
        params = self.params
        return (Peak(month=params.peak_month, factor=params.peak_factor, width_days=params.peak_width_days),)
