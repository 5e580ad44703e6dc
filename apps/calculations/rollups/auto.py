"""Rollups generated from an entity's metrics.

A metric is served by rollups when every aggregate in its formula is SUM,
AVG, COUNT, COUNT_DISTINCT, MIN, MAX or PERCENTILE over a plain attribute
(or COUNT(*)), with filters over attributes that can be dimensions, and no
AT_START/AT_END/FIRST/LAST/PERIOD_START/PERIOD_END. Its aggregates decide
the states kept per attribute (SUM/AVG: sum and count, COUNT: count,
MIN/MAX: min/max, COUNT_DISTINCT: hll, PERCENTILE: tdigest); the
dimensions are the attributes with enum values, the attributes filters use,
and the keys of many-to-one relationships (so a group-by across them can
join from the rollup). Sketches are kept at hour and day grains only
(ARCHITECTURE.md, section 5.3: they cost ~1 KB a row).

Automatic rollups (auto=True) follow the metrics, created, reshaped and
dropped as metrics are saved and deleted; a grain is kept only while some
metric can be answered from it. Rollups a person shaped (auto=False) are
left alone; they go with their entity (services.rollups_delete_for_entity)."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from apps.calculations.models import Rollup
from apps.calculations.paths import many_to_one_edges
from apps.calculations.rollup_spec import GRAINS, STATES
from apps.calculations.rollups.ddl import STATE_DATA_TYPES
from apps.calculations.rollups.locks import ensure_lock
from apps.calculations.rollups.services import RollupPolicy, rollup_create, rollup_delete, rollup_update
from apps.core.errors import AppError
from apps.ontology.catalog import Catalog, EntitySpec, catalog_load
from apps.ontology.types import formula as n

STATES_BY_FUNCTION = {
    "SUM": ("sum", "count"),
    "AVG": ("sum", "count"),
    "COUNT": ("count",),
    "MIN": ("min",),
    "MAX": ("max",),
    "COUNT_DISTINCT": ("hll",),
    "PERCENTILE": ("tdigest",),
}
SKETCHES = frozenset({"hll", "tdigest"})
COARSE_GRAINS = frozenset({"hour", "day"})
# Dimension values are exact group keys: continuous values would make a rollup as big as the raw table.
DIMENSION_TYPES = frozenset({"string", "integer", "boolean", "date"})
# Refresh often where buckets close often; windows a few buckets wide catch
# rows a little late (later ones are invalidations).
AUTO_POLICIES = {
    "minute": RollupPolicy(schedule="* * * * *", start_offset=timedelta(minutes=30), end_offset=timedelta(minutes=1)),
    "hour": RollupPolicy(schedule="*/15 * * * *", start_offset=timedelta(hours=3), end_offset=timedelta(hours=1)),
    "day": RollupPolicy(schedule="7 * * * *", start_offset=timedelta(days=2), end_offset=timedelta(days=1)),
}


class _NotServed(Exception):
    """The metric uses something a rollup cannot answer."""


@dataclass
class RollupPlan:
    """What the automatic rollups of an entity should hold."""

    dimensions: list[str] = field(default_factory=list)
    states: dict[str, set[str]] = field(default_factory=dict)  # attribute -> states
    metrics: list[str] = field(default_factory=list)  # the metrics served
    # metric -> the states its own aggregates merge from (metrics with at least one aggregate)
    needs: dict[str, frozenset[str]] = field(default_factory=dict)

    def measures(self, grain: str) -> list[dict]:
        result = []
        for attribute in sorted(self.states):
            states = [s for s in STATES if s in self.states[attribute] and _kept_at(grain, s)]
            if states:
                result.append({"attribute": attribute, "states": states})
        return result

    def served_at(self, grain: str) -> list[str]:
        """The metrics a rollup of `grain` can answer: a grain no metric can
        use (a minute rollup when every metric needs a sketch) is not kept."""
        return [code for code, needs in self.needs.items() if all(_kept_at(grain, s) for s in needs)]


def _kept_at(grain: str, state: str) -> bool:
    return grain in COARSE_GRAINS or state not in SKETCHES


def _children(node: n.Node) -> Iterator[n.Node]:
    if isinstance(node, n.Unary | n.IsNull):
        yield node.operand
    elif isinstance(node, n.Binary):
        yield from (node.left, node.right)
    elif isinstance(node, n.InList):
        yield from (node.operand, *node.items)
    elif isinstance(node, n.Between):
        yield from (node.operand, node.low, node.high)
    elif isinstance(node, n.Case):
        for condition, value in node.whens:
            yield from (condition, value)
        if node.default is not None:
            yield node.default
    elif isinstance(node, n.Call):
        yield from node.args
        if node.filter is not None:
            yield node.filter


def _filter_attributes(node: n.Node) -> Iterator[str]:
    if isinstance(node, n.Call):  # PERIOD_START(), scalars over columns: not a plain dimension predicate
        raise _NotServed
    if isinstance(node, n.Name):
        yield node.name
    for child in _children(node):
        yield from _filter_attributes(child)


def _metric_needs(entity: EntitySpec, node: n.Node, states: dict[str, set[str]], filters: set[str]) -> int:
    """Collect the states and filter attributes of every aggregate under
    `node` and count the aggregates; raise _NotServed for anything a rollup
    cannot answer. Names outside aggregates are other metrics, judged on
    their own."""
    if isinstance(node, n.Call) and node.function in STATES_BY_FUNCTION:
        args = node.args
        if node.function == "COUNT" and len(args) == 1 and isinstance(args[0], n.Star):
            pass  # row_count
        elif not args or not isinstance(args[0], n.Name):
            raise _NotServed
        else:
            attribute = entity.attributes.get(args[0].name)
            wanted = STATES_BY_FUNCTION[node.function]
            if attribute is None or any(attribute.data_type not in STATE_DATA_TYPES[s] for s in wanted):
                raise _NotServed
            states.setdefault(attribute.code, set()).update(wanted)
        if node.filter is not None:
            filters.update(_filter_attributes(node.filter))
        return 1
    if isinstance(node, n.Call) and node.function not in ("IF", "COALESCE", "ABS", "ROUND"):
        raise _NotServed  # AT_START, AT_END, FIRST, LAST, PERIOD_START, PERIOD_END
    return sum(_metric_needs(entity, child, states, filters) for child in _children(node))


def _dimension_ok(entity: EntitySpec, code: str) -> bool:
    attribute = entity.attributes.get(code)
    return attribute is not None and code != entity.time_attribute and attribute.data_type in DIMENSION_TYPES


def rollup_plan(*, catalog: Catalog, entity: EntitySpec, enum_attributes: set[str]) -> RollupPlan:
    plan = RollupPlan()
    dimensions = {code for code in enum_attributes if _dimension_ok(entity, code)}
    dimensions |= {
        edge.source_attribute
        for edge in many_to_one_edges(catalog, entity.code)
        if _dimension_ok(entity, edge.source_attribute)
    }
    for spec in sorted(catalog.metrics.values(), key=lambda m: m.code):
        if spec.entity != entity.code:
            continue
        try:
            formula = catalog.metric_formula(spec)
            states: dict[str, set[str]] = {}
            filters: set[str] = set()
            aggregates = _metric_needs(entity, formula.root, states, filters)
            if not all(_dimension_ok(entity, code) for code in filters):
                raise _NotServed
        except (_NotServed, AppError):
            continue
        plan.metrics.append(spec.code)
        if aggregates:
            plan.needs[spec.code] = frozenset(state for wanted in states.values() for state in wanted)
        dimensions |= filters
        for attribute, wanted in states.items():
            plan.states.setdefault(attribute, set()).update(wanted)
    plan.dimensions = sorted(dimensions)
    return plan


def rollups_ensure_for_entity(*, client_id: int, entity: str) -> list[Rollup]:
    """Create, reshape or remove the automatic rollups of `entity` (one per
    grain) to serve its metrics now: run after a metric is saved or deleted,
    so an automatic rollup no remaining metric can use is dropped with its
    table (all of them when the entity is gone or has no servable metric).
    Manual rollups are never touched. Returns the automatic rollups kept."""
    with ensure_lock(client_id, entity):
        return _ensure(client_id, entity)


def _ensure(client_id: int, entity: str) -> list[Rollup]:
    catalog = catalog_load(client_id=client_id)
    spec = catalog.entities.get(entity)
    existing = {r.grain: r for r in Rollup.objects.filter(client_id=client_id, entity_code=entity)}
    if spec is None or not spec.is_time_series:
        plan = RollupPlan()
    else:
        enums = {code for code, attribute in spec.attributes.items() if attribute.enum_values}
        plan = rollup_plan(catalog=catalog, entity=spec, enum_attributes=enums)
    kept = []
    for grain in GRAINS:
        rollup = existing.get(grain)
        if rollup is not None and not rollup.auto:
            continue
        if not plan.served_at(grain):
            if rollup is not None:
                rollup_delete(rollup=rollup)
            continue
        measures = plan.measures(grain)
        if rollup is None:
            rollup = rollup_create(
                client_id=client_id,
                entity=entity,
                grain=grain,
                dimensions=plan.dimensions,
                measures=measures,
                policy=AUTO_POLICIES[grain],
                auto=True,
            )
        elif rollup.dimensions != plan.dimensions or rollup.measures != measures:
            rollup = rollup_update(rollup=rollup, dimensions=plan.dimensions, measures=measures, auto=True)
        kept.append(rollup)
    return kept
