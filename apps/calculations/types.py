"""What flows through the calculation engine: the request, the caller's
access context, and the result. Plain frozen dataclasses, so they hash, cache
and cross app boundaries."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from apps.governance.types import RowAccess


class Granularity(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def interval(self) -> str:
        """The bucket width as a PostgreSQL interval."""
        return {"quarter": "3 months"}.get(self.value, f"1 {self.value}")


@dataclass(frozen=True)
class RowFilter:
    """A predicate every row a caller may see satisfies: `attribute` (a path
    as in group_by: `lob`, `region`, `sales_people.region`) `op` `values`.
    Row-level security rules compile to these."""

    attribute: str
    op: str = "in"  # in, not_in, eq, ne, lt, lte, gt, gte, is_null, not_null
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class AccessContext:
    """Who asks: the tenant, the row filters that apply to every entity read
    and the caller's row policies (governance's RowAccess: per entity, the
    predicates of which any must hold, and the placeholder values they bind).
    Built once per request (apps.calculations.selectors.request_context) and
    part of every query (as SQL predicates), every cache and single-flight
    key and every rollup choice. Callers with equal restrictions share
    answers; the user's identity itself is not part of it."""

    client_id: int
    row_filters: tuple[RowFilter, ...] = ()
    rows: RowAccess = field(default_factory=RowAccess)

    @property
    def restricted(self) -> bool:
        """Whether any rows are hidden from this caller: their answers are
        theirs alone (never recorded in metric_history nor published)."""
        return bool(self.row_filters) or self.rows.restricted

    def key(self) -> dict:
        return {
            "client": self.client_id,
            "rows": sorted([f.attribute, f.op, [str(v) for v in f.values]] for f in self.row_filters),
            "policies": self.rows.fingerprint(),
        }


@dataclass(frozen=True)
class MetricQuery:
    """One metric over a time range. `filters` maps an attribute path to the
    values it may take (one value = equality)."""

    metric: str
    start: datetime
    end: datetime
    granularity: Granularity = Granularity.DAY
    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    mode: str | None = None  # None: the metric's own mode
    route: str | None = None  # "raw": skip rollups (explain, comparisons); None: the router decides

    def key(self) -> dict:
        return {
            "metric": self.metric,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "granularity": self.granularity.value,
            "group_by": list(self.group_by),
            "filters": sorted([path, [str(v) for v in values]] for path, values in self.filters),
            "mode": self.mode,
            "route": self.route,
        }


@dataclass(frozen=True)
class Point:
    bucket: datetime | None
    dims: dict[str, Any]
    value: float | None


@dataclass(frozen=True)
class ArchivedRange:
    """Raw rows in [start, end) were archived and dropped by retention."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class TimeRange:
    """The range an answer computed: [start, end), the defaults when the request gave none."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class DataExtent:
    """The first and last time value of the data an answer reads (None: no rows)."""

    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class MetricResult:
    """A computed series, as the API returns it (API.md, Metrics)."""

    metric: str
    unit: str
    granularity: str
    route: str
    cached: bool
    computed_at: datetime
    series: tuple[Point, ...] = field(default_factory=tuple)
    domain: str = ""
    entities: tuple[str, ...] = ()  # entity codes the value was computed from (cache invalidation)
    mode: str = "exact"  # which mode answered: exact, or approximate (hll / t-digest)
    archived: tuple[ArchivedRange, ...] = ()  # parts of the range whose raw rows were archived (dropped)
    range: TimeRange | None = None  # set on every answer (not cached: the request's own)
    extent: DataExtent | None = None  # set on an empty answer, read at answer time (not cached)


@dataclass(frozen=True)
class MetricReadSet:
    """The entities a metric's statement reads (calculations.selectors.metric_read_sets)."""

    code: str
    entities: tuple[str, ...]
    has_time: bool = True  # False when only reference entities answer
    broken: str = ""  # why the statement does not compile (a definition broken since it was saved)


# -- the event calculations publishes (publishers.py registers its schema) ----------

METRIC_CALCULATED = "metric.calculated"


class MetricCalculatedV1(BaseModel):
    """Payload of `metric.calculated` (version 1): one computed point."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    value: float | None
    dims: dict[str, Any] = {}
    bucket: datetime | None
    granularity: str = "day"
    unit: str = ""
    computed_at: datetime | None = None
    source: str = "recalculation"  # recalculation (after a load) or period (the period publisher)


@dataclass(frozen=True)
class RowPolicyPreview:
    """What a member would see (calculations.selectors.row_policy_preview):
    the metric under their row policies next to its unrestricted value."""

    user_id: int
    username: str
    role: str
    restricted: bool
    policies: tuple[Any, ...]  # governance's EntityPolicy: entity + predicates (OR)
    restricted_result: MetricResult
    unrestricted_result: MetricResult
