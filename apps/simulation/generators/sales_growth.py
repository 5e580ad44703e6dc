"""Sales Growth (the spec's Lifecycle 2): sales people per region and their
orders, with order volume and order amounts that grow over the range, swing
by weekday and season, and vary at random.

Per region and day, the number of orders is a time series (`base` =
`orders_per_day`, linear `growth` per year, weekly and yearly cycles,
`noise`) rounded to a whole count; each order goes to one of the region's
sales people, at a random time of day, for an amount around `avg_amount`
(itself growing by `amount_growth` per year) with a log-normal spread.
Defines sales_people (reference), sales_orders (time series), the
many-to-one `sold_by` between them, and revenue, headcount and
sales_efficiency (= Revenue / Headcount, by region through `sold_by`)."""

import math
import random
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from apps.ontology.services.metrics import MetricInput
from apps.ontology.services.relationships import RelationshipInput
from apps.simulation.generators.base import (
    MAX_ROWS,
    Batch,
    OntologySpec,
    Scenario,
    ScenarioParams,
    entity,
    param_error,
)
from apps.simulation.generators.time_series import (
    YEAR_DAYS,
    Peak,
    Seasonality,
    _generate_time_series,
    whole_count,
)

PEOPLE, ORDERS = "sales_people", "sales_orders"
SALES_ONTOLOGY = OntologySpec(
    entities=(
        entity(
            PEOPLE,
            "Sales people",
            [("salesperson_id", "string", False), ("name", "string"), ("region", "string")],
        ),
        entity(
            ORDERS,
            "Sales orders",
            [
                ("ordered_at", "timestamp", False),
                ("order_id", "string", False),
                ("salesperson_id", "string"),
                ("amount", "decimal"),
            ],
            time_attribute="ordered_at",
        ),
    ),
    relationships=(
        RelationshipInput(
            code="sold_by",
            name="Sold by",
            source_entity=ORDERS,
            target_entity=PEOPLE,
            kind="many_to_one",
            source_attribute="salesperson_id",
            target_attribute="salesperson_id",
        ),
    ),
    metrics=(
        MetricInput(code="revenue", name="Revenue", formula="SUM(amount)", entity=ORDERS, unit="EUR", domain="finance"),
        MetricInput(
            code="headcount",
            name="Headcount",
            formula="COUNT_DISTINCT(salesperson_id)",
            entity=PEOPLE,
            unit="people",
            domain="sales",
        ),
        MetricInput(
            code="sales_efficiency",
            name="Sales efficiency",
            formula="Revenue / Headcount",
            unit="EUR per person",
            domain="sales",
        ),
    ),
)
AMOUNT_SPREAD = 0.4  # sigma of the log-normal spread of one order's amount
FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elif", "Finn", "Grace", "Hugo", "Ines", "Jonas", "Kai", "Lena")
LAST_NAMES = ("Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka", "Urban", "Varga", "Weber")

Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class RegionParams(ScenarioParams):
    people: int = Field(ge=1, le=1000, description="sales people in the region")
    orders_per_day: float = Field(ge=0, le=100_000, description="orders a day at the start of the range")
    avg_amount: float = Field(gt=0, le=1_000_000_000, description="average order amount at the start")


def _default_regions() -> dict[str, RegionParams]:
    return {
        "EU": RegionParams(people=4, orders_per_day=12, avg_amount=250),
        "US": RegionParams(people=6, orders_per_day=16, avg_amount=320),
        "APAC": RegionParams(people=3, orders_per_day=6, avg_amount=180),
    }


class SalesGrowthParams(ScenarioParams):
    regions: dict[Region, RegionParams] = Field(default_factory=_default_regions, min_length=1, max_length=50)
    growth: float = Field(default=0.6, ge=-1, le=20, description="order volume growth per year (0.6 = +60%)")
    amount_growth: float = Field(default=0.1, ge=-1, le=20, description="average amount growth per year")
    weekly_amplitude: float = Field(default=0.25, ge=0, le=1, description="weekday swing (busiest mid-week)")
    yearly_amplitude: float = Field(default=0.1, ge=0, le=1, description="seasonal swing over the year")
    yearly_peak_day: int = Field(default=335, ge=1, le=366, description="day of the year the season peaks")
    noise: float = Field(default=0.1, ge=0, le=2, description="relative day-to-day noise (standard deviation)")
    seed: int = 42


class SalesGrowth(Scenario):
    code = "sales_growth"
    name = "Sales Growth"
    description = (
        "Sales people by region and their orders, with growing volume and amounts, weekly and yearly seasonality "
        "and noise; defines sales_people, sales_orders, sold_by, revenue, headcount, sales_efficiency."
    )
    Params = SalesGrowthParams
    reference_keys = {PEOPLE: "salesperson_id"}
    _counts: dict[str, list[int]] | None = None  # orders per region and day, once computed

    def ontology(self) -> OntologySpec:
        return SALES_ONTOLOGY

    def validate(self) -> None:
        bound = (
            sum(
                region.orders_per_day * (1 + max(self.params.growth, 0) * self.days / YEAR_DAYS) * self.days
                for region in self.params.regions.values()
            )
            * self._level_bound()
        )
        if bound > MAX_ROWS:
            raise param_error(
                "params.regions",
                f"These order volumes over {self.days} days would write about {int(bound):,} orders; "
                f"at most {MAX_ROWS:,} per run. Use fewer orders per day or a shorter range.",
                code="too_many_rows",
            )

    def _level_bound(self) -> float:
        """How far above its trend the seasonality may lift the level, on average."""
        return 1.0

    def time_ranges(self) -> dict[str, tuple[date, date]]:
        return {ORDERS: (self.start, self.end)}

    # -- the plan -------------------------------------------------------------

    def _codes(self) -> dict[str, str]:
        codes: dict[str, str] = {}
        for index, region in enumerate(self.params.regions):
            code = re.sub(r"[^A-Z0-9]", "", region.upper())[:6] or "R"
            codes[region] = code if code not in codes.values() else f"{code}{index}"
        return codes

    def _people(self) -> dict[str, list[dict[str, Any]]]:
        rng = random.Random(f"{self.params.seed}:people")  # noqa: S311 - reproducible demo data
        codes = self._codes()
        return {
            region: [
                {
                    "salesperson_id": f"{codes[region]}-{i:03d}",
                    "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                    "region": region,
                }
                for i in range(1, params.people + 1)
            ]
            for region, params in self.params.regions.items()
        }

    def _seasonality(self) -> tuple[Seasonality, ...]:
        p = self.params
        return (
            Seasonality.weekly(p.weekly_amplitude, peak_weekday=2),
            Seasonality.yearly(p.yearly_amplitude, peak_day_of_year=p.yearly_peak_day),
        )

    def _peaks(self) -> tuple[Peak, ...]:
        return ()

    def order_counts(self) -> dict[str, list[int]]:
        """Orders per region and day of the range."""
        if self._counts is None:
            self._counts = {}
            for region, params in self.params.regions.items():
                seed = f"{self.params.seed}:{region}:orders"
                levels = _generate_time_series(
                    start=self.start,
                    days=self.days,
                    base=params.orders_per_day,
                    trend=self.params.growth,
                    seasonality=self._seasonality(),
                    peaks=self._peaks(),
                    noise=self.params.noise,
                    seed=seed,
                )
                rng = random.Random(f"{seed}:round")  # noqa: S311 - reproducible demo data
                self._counts[region] = [whole_count(level, rng) for _, level in levels]
        return self._counts

    def _new_people(self, skip_keys: Mapping[str, set[str]] | None) -> list[dict[str, Any]]:
        stored = (skip_keys or {}).get(PEOPLE, set())
        return [p for people in self._people().values() for p in people if p["salesperson_id"] not in stored]

    def rows_planned(self, *, skip_keys: Mapping[str, set[str]] | None = None) -> int:
        return len(self._new_people(skip_keys)) + sum(sum(counts) for counts in self.order_counts().values())

    def expected(self) -> dict[str, Any]:
        counts = self.order_counts()
        return {
            "orders": {region: sum(c) for region, c in counts.items()},
            "people": {region: len(people) for region, people in self._people().items()},
        }

    # -- the rows -------------------------------------------------------------------

    def batches(self, *, batch_rows: int, skip_keys: Mapping[str, set[str]] | None = None) -> Iterator[Batch]:
        people = self._new_people(skip_keys)
        if people:
            yield Batch(PEOPLE, people)
        codes, ids = self._codes(), {r: [p["salesperson_id"] for p in ps] for r, ps in self._people().items()}
        counts = self.order_counts()
        rngs = {r: random.Random(f"{self.params.seed}:{r}:amounts") for r in counts}  # noqa: S311 - demo data
        # A log-normal spread around 1 with mean 1: the average amount stays the one asked for.
        mu = -(AMOUNT_SPREAD**2) / 2
        batch = Batch(ORDERS)
        for offset in range(self.days):
            day = self.start + timedelta(days=offset)
            midnight = datetime.combine(day, time(0), tzinfo=UTC)
            stamp = day.strftime("%Y%m%d")
            for region, params in self.params.regions.items():
                rng = rngs[region]
                level = params.avg_amount * (1 + self.params.amount_growth * offset / YEAR_DAYS)
                seconds = sorted(rng.randrange(86_400) for _ in range(counts[region][offset]))
                for number, second in enumerate(seconds, start=1):
                    amount = max(level * math.exp(rng.gauss(mu, AMOUNT_SPREAD)), 0.01)
                    batch.rows.append(
                        {
                            "ordered_at": (midnight + timedelta(seconds=second)).isoformat(),
                            "order_id": f"{codes[region]}-{stamp}-{number:05d}",
                            "salesperson_id": rng.choice(ids[region]),
                            "amount": Decimal(f"{amount:.2f}"),
                        }
                    )
            if len(batch.rows) >= batch_rows:
                yield batch
                batch = Batch(ORDERS)
        if batch.rows:
            yield batch
