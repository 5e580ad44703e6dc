"""What every scan of a compiled statement shares: the request being built
(bound parameters, CTEs, entities read), the time bucket, the table and join
references, and the predicates (time range, request filters, row filters)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlglot import exp

from apps.calculations.compiler.expressions import Params, column, quoted
from apps.calculations.compiler.policies import policy_predicates
from apps.calculations.compiler.values import predicate
from apps.calculations.paths import Column, PathResolver
from apps.calculations.rollup_spec import RollupSpec
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.errors import AppError
from apps.ontology.catalog import Catalog, EntitySpec

BUCKET = "bucket"
VALUE = "value"


@dataclass
class Component:
    cte: str
    has_time: bool


@dataclass
class Build:
    catalog: Catalog
    query: MetricQuery
    context: AccessContext
    params: Params = field(default_factory=Params)
    ctes: list[tuple[str, exp.Expression]] = field(default_factory=list)
    components: dict[str, Component] = field(default_factory=dict)
    entities: set[str] = field(default_factory=set)
    rollups: Callable[[str], list[RollupSpec]] = lambda entity: []  # the rollups of an entity, for the router
    routes: list[dict] = field(default_factory=list)  # one per fact scan: which storage, and why

    @property
    def dim_names(self) -> list[str]:
        return [f"d{i}" for i in range(len(self.query.group_by))]


def width() -> exp.Expression:
    return exp.Cast(this=exp.Placeholder(this="width"), to=exp.DataType.build("interval"))


def time_bucket(time_column: exp.Expression) -> exp.Expression:
    timestamp = exp.Cast(this=time_column.copy(), to=exp.DataType.build("timestamptz"))
    return exp.Anonymous(this="time_bucket", expressions=[width(), timestamp])


def table_ref(entity: EntitySpec, alias: str) -> exp.Table:
    return exp.Table(this=quoted(entity.table), db=quoted(entity.schema), alias=exp.TableAlias(this=quoted(alias)))


def joins_apply(build: Build, select: exp.Select, resolver: PathResolver) -> exp.Select:
    for join in resolver.joins:
        build.entities.add(join.entity.code)
        select = select.join(
            table_ref(join.entity, join.alias),
            on=exp.EQ(
                this=column(join.from_alias, join.from_attribute), expression=column(join.alias, join.to_attribute)
            ),
            join_type="left",
        )
    return select


def predicates(
    build: Build,
    entity: EntitySpec,
    resolver: PathResolver,
    time_column: exp.Expression | None,
    *,
    lookback: bool = False,
) -> list[exp.Expression]:
    """The time range (from one period earlier with `lookback`), the
    request's filters, the caller's row filters and row policies."""
    where: list[exp.Expression] = []
    if time_column is not None:
        time_type = entity.attributes[entity.time_attribute].data_type
        query_start = period_before(build.query.start, build.query.granularity) if lookback else build.query.start
        start, end = range_values(query_start, build.query.end, time_type)
        suffix = "_date" if isinstance(start, date) and not isinstance(start, datetime) else ""
        name = ("lookback_start" if lookback else "start") + suffix
        where.append(exp.GTE(this=time_column.copy(), expression=build.params.named(name, start)))
        where.append(exp.LT(this=time_column.copy(), expression=build.params.named(f"end{suffix}", end)))
    for path, values in build.query.filters:
        target: Column = resolver.column(path, what="filter attribute")
        where.append(predicate(build.params, target, "in", values, path=path))
    for rule in build.context.row_filters:
        try:
            target = resolver.column(rule.attribute, what="row filter attribute")
        except AppError as exc:
            # Fail closed: a rule that cannot be applied to this entity hides it.
            raise AppError(
                f"A row-level rule on {rule.attribute!r} cannot be applied to entity {entity.code!r}; "
                "its data is not visible to you.",
                code="permission_denied",
                status_code=403,
                details={"attribute": rule.attribute, "entity": entity.code},
            ) from exc
        where.append(predicate(build.params, target, rule.op, rule.values, path=rule.attribute))
    # The caller's row policies on this entity and on those the scan joins (policies.py).
    where.extend(policy_predicates(build.params, build.context, entity, resolver))
    return where


def period_before(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the bucket before the one holding `moment` (UTC buckets,
    weeks from Monday, as time_bucket makes them)."""
    moment = moment.astimezone(UTC)
    if granularity == Granularity.MINUTE:
        return moment.replace(second=0, microsecond=0) - timedelta(minutes=1)
    if granularity == Granularity.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == Granularity.DAY:
        return day - timedelta(days=1)
    if granularity == Granularity.WEEK:
        return day - timedelta(days=day.weekday() + 7)
    months = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}[granularity]
    index = day.year * 12 + day.month - 1
    index = index - index % months - months
    return day.replace(year=index // 12, month=index % 12 + 1, day=1)


def range_values(start: datetime, end: datetime, data_type: str) -> tuple[Any, Any]:
    """Bounds in the time column's own type (so chunk exclusion works): a
    date column compares with dates, the end rounded up to the next day."""
    if data_type != "date":
        return start, end
    start_day = start.astimezone(UTC).date()
    end_utc = end.astimezone(UTC)
    end_day = end_utc.date() + (timedelta(days=1) if end_utc.time() != time(0) else timedelta(0))
    return start_day, end_day
