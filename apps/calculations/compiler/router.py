"""The query router (ARCHITECTURE.md, section 5, item 4): for each scan of an
entity's facts, answer from the raw hypertable, from a rollup, or from a
rollup plus the raw rows past its watermark ("rollup+raw"), and say why.

A rollup can answer a scan when every aggregate merges from partial states
it carries (SUM, AVG, COUNT, MIN, MAX; COUNT_DISTINCT and PERCENTILE only in
approximate mode, through hll and t-digest), every attribute the scan
filters or groups by is one of its dimensions (or is reached through a
relationship from one), the granularity is no finer than its grain, the
range starts and ends on its grain, and no late data is waiting to be
re-materialized in the range. Of the rollups that can, the coarsest grain
wins (hierarchical: a year of daily partials, not a year of minutes)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.calculations.paths import PathResolver
from apps.calculations.rollup_spec import RollupSpec
from apps.calculations.types import Granularity, MetricQuery, RowFilter
from apps.core.errors import AppError
from apps.ontology.catalog import Catalog, EntitySpec
from apps.ontology.types import formula as n

RAW, ROLLUP, ROLLUP_RAW = "raw", "rollup", "rollup+raw"
GRAIN_RANK = {"minute": 0, "hour": 1, "day": 2}
GRANULARITY_RANK = {"minute": 0, "hour": 1, "day": 2, "week": 2, "month": 2, "quarter": 2, "year": 2}
GRAIN_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
MERGEABLE = {"SUM": "sum", "AVG": "sum", "COUNT": "count", "MIN": "min", "MAX": "max"}
SKETCHED = {"COUNT_DISTINCT": "hll", "PERCENTILE": "tdigest"}


@dataclass(frozen=True)
class Route:
    kind: str  # raw, rollup, rollup+raw
    reason: str
    rollup: RollupSpec | None = None

    def explain(self, metric: str, entity: str) -> dict:
        return {
            "metric": metric,
            "entity": entity,
            "route": self.kind,
            "rollup": self.rollup.table if self.rollup else None,
            "grain": self.rollup.grain if self.rollup else None,
            "watermark": self.rollup.watermark.isoformat() if self.rollup and self.rollup.watermark else None,
            "reason": self.reason,
        }


def calls(node: n.Node) -> Iterator[n.Call]:
    """Every function call in a formula tree."""
    if isinstance(node, n.Call):
        yield node
        for arg in node.args:
            yield from calls(arg)
        if node.filter is not None:
            yield from calls(node.filter)
    for child in _children(node):
        yield from calls(child)


def names(node: n.Node | None) -> Iterator[str]:
    if node is None:
        return
    if isinstance(node, n.Name):
        yield node.name
    if isinstance(node, n.Call):
        for arg in node.args:
            yield from names(arg)
        yield from names(node.filter)
    for child in _children(node):
        yield from names(child)


def _children(node: n.Node) -> list[n.Node]:
    if isinstance(node, n.Unary):
        return [node.operand]
    if isinstance(node, n.Binary):
        return [node.left, node.right]
    if isinstance(node, n.IsNull):
        return [node.operand]
    if isinstance(node, n.InList):
        return [node.operand, *node.items]
    if isinstance(node, n.Between):
        return [node.operand, node.low, node.high]
    if isinstance(node, n.Case):
        return [x for pair in node.whens for x in pair] + ([node.default] if node.default is not None else [])
    return []


def _aligned(moment: datetime, grain: str) -> bool:
    utc = moment.astimezone(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return (utc - epoch) % timedelta(seconds=GRAIN_SECONDS[grain]) == timedelta(0)


def _unsupported(aggregates: list[n.Call], approximate: bool) -> str | None:
    """Why these aggregates cannot merge from partial states (None: they can)."""
    for call in aggregates:
        function = call.function
        if function in ("AT_START", "AT_END", "FIRST", "LAST"):
            return f"{function} reads rows at points in time; rollups keep only per-bucket states"
        if function in SKETCHED and not approximate:
            return f"exact {function} needs the raw rows (approximate mode can merge the rollup's sketches)"
        if function not in MERGEABLE and function not in SKETCHED:
            return f"{function} does not merge from partial states"
        argument = call.args[0] if call.args else None
        if not (isinstance(argument, n.Name) or (function == "COUNT" and isinstance(argument, n.Star | None))):
            return f"{function} of an expression cannot be merged from per-attribute states"
        if any(c.function in ("PERIOD_START", "PERIOD_END") for c in calls(call.filter or n.Null())):
            return "a filter on the period's bounds needs the raw rows"
    return None


def _states_needed(aggregates: list[n.Call]) -> set[tuple[str, str]]:
    needed = set()
    for call in aggregates:
        argument = call.args[0] if call.args else None
        if isinstance(argument, n.Name):
            state = SKETCHED.get(call.function) or MERGEABLE[call.function]
            needed.add((argument.name, state))
            if call.function == "AVG":
                needed.add((argument.name, "count"))
    return needed


def _paths(query: MetricQuery, row_filters: tuple[RowFilter, ...], policy_paths: list[str]) -> list[str]:
    return [
        *query.group_by,
        *(path for path, _ in query.filters),
        *(rule.attribute for rule in row_filters),
        *policy_paths,
    ]


def _fits(
    rollup: RollupSpec, catalog: Catalog, entity: EntitySpec, aggregates: list[n.Call], paths: list[str]
) -> str | None:
    """Why `rollup` cannot answer (None: it can, data aside)."""
    missing = sorted(f"{a}:{s}" for a, s in _states_needed(aggregates) if not rollup.has_state(a, s))
    if missing:
        return f"{rollup.table} lacks the partial states {', '.join(missing)}"
    filtered = {name for call in aggregates for name in names(call.filter)}
    absent = sorted(filtered - set(rollup.dims))
    if absent:
        return f"{rollup.table} has no dimension {', '.join(absent)} (used in a filter)"
    resolver = PathResolver(catalog, entity, base_columns=rollup.dims)
    for path in paths:
        try:
            resolver.column(path)
        except KeyError:
            return f"{rollup.table} has no dimension for {path!r}"
        except AppError:
            return None  # an unknown path: the raw compile reports it
    return None


def route_choose(
    *,
    catalog: Catalog,
    entity: EntitySpec,
    aggregates: list[n.Call],
    query: MetricQuery,
    row_filters: tuple[RowFilter, ...],
    rollups: list[RollupSpec],
    approximate: bool,
    policy_paths: list[str] = (),
) -> Route:
    """`policy_paths`: what the caller's row policy on `entity` reads; a
    rollup answers only when each is one of its dimensions (or reached
    through one), else the raw rows do."""
    if not entity.is_time_series:
        return Route(RAW, "a reference entity has no rollups")
    if query.route == RAW:
        return Route(RAW, "the request asked for the raw rows (route=raw)")
    if not rollups:
        return Route(RAW, f"no rollup of {entity.code} exists yet")
    why = _unsupported(aggregates, approximate)
    if why:
        return Route(RAW, why)
    paths = _paths(query, row_filters, list(policy_paths))
    reasons = []
    for rollup in sorted(rollups, key=lambda r: -GRAIN_RANK[r.grain]):
        if GRAIN_RANK[rollup.grain] > GRANULARITY_RANK[query.granularity.value]:
            reasons.append(f"{rollup.grain} rollup is coarser than {query.granularity.value} buckets")
            continue
        if not (_aligned(query.start, rollup.grain) and _aligned(query.end, rollup.grain)):
            reasons.append(f"the range does not start and end on whole {rollup.grain}s")
            continue
        why = _fits(rollup, catalog, entity, aggregates, paths)
        if why:
            reasons.append(why)
            continue
        if rollup.watermark is None or rollup.watermark <= query.start:
            reasons.append(f"{rollup.grain} rollup is not materialized past the range start")
            continue
        stale = [(a, b) for a, b in rollup.stale if a < query.end and b >= query.start]
        if stale:
            reasons.append(f"late rows in the range wait for the {rollup.grain} rollup's next refresh")
            continue
        if query.end <= rollup.watermark:
            return Route(ROLLUP, f"{rollup.grain} rollup covers the whole range", rollup)
        return Route(
            ROLLUP_RAW,
            f"{rollup.grain} rollup up to its watermark {rollup.watermark.isoformat()}, raw rows after it",
            rollup,
        )
    return Route(RAW, "; ".join(reasons) or "no rollup fits")


def granularity_rank(granularity: Granularity) -> int:
    return GRANULARITY_RANK[granularity.value]
