"""Health Retention (the spec's Lifecycle 1): daily policy snapshots whose
Start/End/New counts per period and line of business are the ones asked for.

The retention metrics read a period's opening count from the previous
period's last snapshot (AT_START), its closing count from its own last
snapshot (AT_END), and new policies as those in force at the end that
started in the period. So, per period and LOB:

- the opening book is every policy Active on the day before the period;
- `start - (end - new)` of them are dropped on random days of the period:
  the policy shows as Terminated that day and is gone the next;
- `new` policies start on random days of the period (their `start_date` is
  that day) and stay in force until the period ends;
- so the last snapshot holds `end` Active policies, `new` of them new, and
  `retention_rate = (end - new) / start` exactly.

The day before `start` carries the opening snapshot, so the first period
has its Start count. A period's End is the next period's Start (they are
the same snapshot), so counts given for several periods must chain; counts
given for fewer periods than the range has carry their rates forward (kept
`(end - new) / start`, new `new / start` of each opening count, rounded).
"""

import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from apps.ontology.services.metrics import MetricInput
from apps.simulation.generators.base import (
    MAX_ROWS,
    Batch,
    OntologySpec,
    Scenario,
    ScenarioParams,
    entity,
    param_error,
    period_start,
    periods_between,
)

ENTITY = "policy_snapshot"
POLICY_SNAPSHOT = entity(
    ENTITY,
    "Policy snapshot",
    [
        ("snapshot_date", "date", False),
        ("policy_id", "string", False),
        ("status", "string", True, ("Active", "Terminated")),
        ("start_date", "date"),
        ("lob", "string"),
        ("premium", "decimal"),
    ],
    time_attribute="snapshot_date",
)
RETENTION_METRICS = (
    ("start_count", "AT_START(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    ("end_count", "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    (
        "new_count",
        "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active' AND start_date >= PERIOD_START())",
        "count",
    ),
    ("retention_rate", "(EndCount - NewCount) / StartCount", "ratio"),
)
RETENTION_ONTOLOGY = OntologySpec(
    entities=(POLICY_SNAPSHOT,),
    metrics=tuple(
        MetricInput(
            code=code,
            name=code.replace("_", " ").capitalize(),
            formula=formula,
            entity=ENTITY,
            unit=unit,
            domain="health",
        )
        for code, formula, unit in RETENTION_METRICS
    ),
)
MAX_EXPECTED = 500  # period x LOB entries kept in a run's summary
PREMIUMS = {"health": (90, 450), "motor": (40, 160)}
DEFAULT_PREMIUM = (50, 300)

Lob = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class Counts(ScenarioParams):
    """Policies in force at the start and the end of a period, and new in it."""

    start: int | None = Field(default=None, ge=0, le=10_000_000)
    end: int = Field(ge=0, le=10_000_000)
    new: int = Field(ge=0, le=10_000_000)


class HealthRetentionParams(ScenarioParams):
    period: Literal["day", "week", "month", "quarter"] = Field(
        default="month", description="the period the counts are for (the metrics' granularity)"
    )
    lobs: dict[Lob, Annotated[list[Counts], Field(min_length=1, max_length=1000)]] = Field(
        default_factory=lambda: {
            "Health": [Counts(start=600, end=570, new=30)],
            "Motor": [Counts(start=400, end=380, new=20)],
        },
        min_length=1,
        max_length=20,
        description="per line of business, the counts of the first period, or a list with one entry per period",
    )
    seed: int = 42

    @field_validator("lobs", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {lob: [counts] if isinstance(counts, Mapping) else counts for lob, counts in value.items()}
        return value


@dataclass(frozen=True)
class PeriodPlan:
    first: date
    after: date  # the day after its last day (the range's end for a cut period)
    start: int
    end: int
    new: int

    @property
    def dropped(self) -> int:
        return self.start - (self.end - self.new)


def round_half_up(value: float) -> int:
    """Whole policies, halves up (46.5 -> 47; round() would give 46)."""
    return int(value + 0.5)


class HealthRetention(Scenario):
    code = "health_retention"
    name = "Health Retention"
    description = (
        "Daily policy snapshots by line of business with the Start/End/New counts you set per period; "
        "defines policy_snapshot and start_count, end_count, new_count, retention_rate."
    )
    Params = HealthRetentionParams

    def ontology(self) -> OntologySpec:
        return RETENTION_ONTOLOGY

    # -- parameters ----------------------------------------------------------

    def _lob_counts(self) -> dict[str, list[Counts]]:
        return self.params.lobs

    def _counts_path(self, lob: str, index: int, items: list) -> str:
        return f"params.lobs.{lob}" + (f"[{index}]" if len(items) > 1 else "")

    def validate(self) -> None:
        period = self.params.period
        if period_start(self.start, period) != self.start:
            raise param_error(
                "start",
                f"{self.start} is not the first day of a {period}; periods are calendar {period}s "
                f"(weeks from Monday), e.g. {period_start(self.start, period)}.",
            )
        spans = periods_between(self.start, self.end, period)
        for lob, items in self._lob_counts().items():
            if len(items) > len(spans):
                raise param_error(
                    f"params.lobs.{lob}",
                    f"{len(items)} periods of counts given; the range has {len(spans)} {period}s.",
                )
            previous_end = None
            for index, counts in enumerate(items):
                path = self._counts_path(lob, index, items)
                start = counts.start if counts.start is not None else previous_end
                if start is None:
                    raise param_error(f"{path}.start", "The first period needs a start count.")
                if previous_end is not None and start != previous_end:
                    raise param_error(
                        f"{path}.start",
                        f"Start ({start}) must equal the previous period's End ({previous_end}): "
                        "both are the same snapshot.",
                    )
                if counts.end > start + counts.new:
                    raise param_error(
                        f"{path}.end",
                        f"End ({counts.end}) cannot exceed Start + New ({start} + {counts.new}): "
                        "at most every policy is kept and every new one added.",
                    )
                if counts.end < counts.new:
                    raise param_error(
                        f"{path}.end",
                        f"End ({counts.end}) cannot be less than New ({counts.new}): "
                        "new policies are still in force at the end of their period.",
                    )
                previous_end = counts.end
        self.plans = self._plan(spans)
        # An upper bound, cheap to compute before anything is scheduled.
        bound = sum((p.after - p.first).days * (p.start + p.new) for plan in self.plans.values() for p in plan)
        if bound > MAX_ROWS:
            raise param_error(
                "params.lobs",
                f"These counts over {self.days} days would write up to {bound:,} snapshot rows; "
                f"at most {MAX_ROWS:,} per run. Use fewer policies or a shorter range.",
                code="too_many_rows",
            )

    # -- the plan: counts per period ---------------------------------------------

    def _retained(self, first: date, after: date, opening: int, retained: int) -> int:
        """Hook for scenarios that change how many policies a period keeps."""
        return retained

    def _plan(self, spans: list[tuple[date, date]]) -> dict[str, list[PeriodPlan]]:
        plans: dict[str, list[PeriodPlan]] = {}
        for lob, items in self._lob_counts().items():
            plan: list[PeriodPlan] = []
            opening = items[0].start
            rates: tuple[float, float] | None = None  # kept and new per policy at the start
            for index, (first, after) in enumerate(spans):
                if index < len(items):
                    counts = items[index]
                    retained, new = counts.end - counts.new, counts.new
                    # A last given period that started empty has no rates: keep its New, lose nobody.
                    rates = (retained / opening, new / opening) if opening else None
                elif rates:
                    retained, new = round_half_up(opening * rates[0]), round_half_up(opening * rates[1])
                else:
                    retained, new = opening, items[-1].new
                retained = self._retained(first, after, opening, retained)
                plan.append(PeriodPlan(first, after, opening, retained + new, new))
                opening = retained + new
            plans[lob] = plan
        return plans

    def time_ranges(self) -> dict[str, tuple[date, date]]:
        # The opening snapshot is written on the day before the range.
        return {ENTITY: (self.start - timedelta(days=1), self.end)}

    def expected(self) -> dict[str, Any]:
        rows = [
            {
                "period": p.first.isoformat(),
                "lob": lob,
                "start": p.start,
                "end": p.end,
                "new": p.new,
                "retention_rate": round((p.end - p.new) / p.start, 6) if p.start else None,
            }
            for lob, plan in self.plans.items()
            for p in plan
        ]
        rows.sort(key=lambda r: (r["period"], r["lob"]))
        return {"period": self.params.period, "counts": rows[:MAX_EXPECTED], "truncated": len(rows) > MAX_EXPECTED}

    # -- the schedule: on which day each drop and start happens ----------------------

    def _schedule(self, lob: str) -> list[tuple[PeriodPlan, list[int], list[int]]]:
        """Per period: drops per day and new policies per day (seeded)."""
        rng = random.Random(f"{self.params.seed}:{lob}:schedule")  # noqa: S311 - reproducible demo data
        schedule = []
        for plan in self.plans[lob]:
            days = (plan.after - plan.first).days
            drops, starts = [0] * days, [0] * days
            for _ in range(plan.dropped):
                drops[rng.randrange(days)] += 1
            for _ in range(plan.new):
                starts[rng.randrange(days)] += 1
            schedule.append((plan, drops, starts))
        return schedule

    def rows_planned(self, *, skip_keys: Mapping[str, set[str]] | None = None) -> int:
        total = 0
        for lob, plan in self.plans.items():
            active = plan[0].start if plan else 0
            total += active  # the opening snapshot
            for _, drops, starts in self._schedule(lob):
                for dropped, started in zip(drops, starts, strict=True):
                    active += started - dropped
                    total += active + dropped  # Active rows and the day's Terminated ones
        return total

    # -- the rows ------------------------------------------------------------------

    def _prefixes(self) -> dict[str, str]:
        prefixes: dict[str, str] = {}
        for index, lob in enumerate(self.plans):
            prefix = re.sub(r"[^A-Z0-9]", "", lob.upper())[:3] or "LOB"
            prefixes[lob] = prefix if prefix not in prefixes.values() else f"{prefix}{index}"
        return prefixes

    def _lob_days(self, lob: str, prefix: str) -> Iterator[list[dict[str, Any]]]:
        """The LOB's rows, one list per day from the opening snapshot on."""
        rng = random.Random(f"{self.params.seed}:{lob}:book")  # noqa: S311 - reproducible demo data
        low, high = PREMIUMS.get(lob.lower(), DEFAULT_PREMIUM)
        counter = 0
        active: dict[str, tuple[str, Decimal]] = {}

        def policy(start_date: date) -> None:
            nonlocal counter
            counter += 1
            premium = Decimal(rng.randrange(low * 100, high * 100)) / 100
            active[f"{prefix}-{counter:06d}"] = (start_date.isoformat(), premium)

        def snapshot(day: str, terminated: list[tuple[str, tuple[str, Decimal]]]) -> list[dict[str, Any]]:
            return [
                {"snapshot_date": day, "policy_id": pid, "status": status, "start_date": sd, "lob": lob, "premium": p}
                for status, policies in (("Active", active.items()), ("Terminated", terminated))
                for pid, (sd, p) in policies
            ]

        schedule = self._schedule(lob)
        opening_day = self.start - timedelta(days=1)
        for _ in range(schedule[0][0].start if schedule else 0):
            # In force for one to five years before the range: never "new" in a period the metrics read.
            policy(opening_day - timedelta(days=rng.randrange(365, 5 * 365)))
        yield snapshot(opening_day.isoformat(), [])

        for plan, drops, starts in schedule:
            cohort = rng.sample(list(active), plan.dropped)  # only policies in force at the period's start
            taken = 0
            for offset, (dropped, started) in enumerate(zip(drops, starts, strict=True)):
                day = plan.first + timedelta(days=offset)
                leaving = cohort[taken : taken + dropped]
                taken += dropped
                terminated = [(pid, active.pop(pid)) for pid in leaving]
                for _ in range(started):
                    policy(day)
                yield snapshot(day.isoformat(), terminated)

    def batches(self, *, batch_rows: int, skip_keys: Mapping[str, set[str]] | None = None) -> Iterator[Batch]:
        prefixes = self._prefixes()
        books = [self._lob_days(lob, prefixes[lob]) for lob in self.plans]
        batch = Batch(ENTITY)
        # Every LOB has the same days: interleave them so batches stay in time order.
        for days in zip(*books, strict=True):
            for rows in days:
                batch.rows.extend(rows)
            if len(batch.rows) >= batch_rows:
                yield batch
                batch = Batch(ENTITY)
        if batch.rows:
            yield batch
