"""A metric request -> one SQL statement (docs/formulas.md, "How a formula
becomes SQL").

Every metric the request needs becomes a common table expression
`m_<code>` with columns (bucket, d0.., value):

- a metric over its entity's rows is one aggregate query grouped by
  time bucket and the group-by columns (`FILTER (WHERE ...)` per aggregate;
  `AT_START`/`AT_END` add "the row is at the period's first/last time",
  with the bounds from a `b_<code>` CTE);
- a metric that refers to other metrics joins their CTEs on the bucket and
  group-by values (`k_<code>` holds the union of keys; a reference entity's
  metric has no bucket and joins on the group-by values alone), its own
  aggregates, if any, computed in `a_<code>`.

The tenant is the table (each client's entities live in tables of their
own); the access context's row filters and the request's filters are
predicates on every fact scan. Literals and request values are bound
parameters; identifiers are quoted by sqlglot."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from apps.calculations.compiler.build import (
    BUCKET,
    VALUE,
    Build,
    Component,
    joins_apply,
    predicates,
    table_ref,
    time_bucket,
    width,
)
from apps.calculations.compiler.expressions import Scope, column, compile_aggregate, compile_node, quoted
from apps.calculations.compiler.policies import policy_paths
from apps.calculations.compiler.rollup_scan import rollup_select
from apps.calculations.compiler.router import RAW, ROLLUP, ROLLUP_RAW, Route, calls, route_choose
from apps.calculations.paths import PathResolver
from apps.calculations.rollup_spec import RollupSpec
from apps.calculations.types import AccessContext, MetricQuery
from apps.core.errors import AppError
from apps.ontology.catalog import Catalog, EntitySpec, MetricSpec
from apps.ontology.types import formula as n
from apps.ontology.types.formula import AGGREGATES, PERIOD_WRAPPERS


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    params: dict[str, Any]
    metric: MetricSpec
    dims: tuple[str, ...]  # group-by paths, in the order of the result's d0, d1, ...
    entities: tuple[str, ...]  # every entity read (cache invalidation)
    has_time: bool  # False when only reference entities answer (buckets are NULL)
    route: str = "raw"  # raw, rollup or rollup+raw
    routes: tuple[dict, ...] = ()  # per fact scan: route, rollup, reason (the API's explain)
    mode: str = "exact"


def metric_compile(
    *,
    catalog: Catalog,
    query: MetricQuery,
    context: AccessContext,
    rollups: Callable[[str], list[RollupSpec]] | None = None,
) -> CompiledQuery:
    """`rollups(entity_code)` lists an entity's rollups for the router;
    without it every scan reads the raw rows."""
    if context.client_id != catalog.client_id:
        raise AppError("The access context and the ontology belong to different clients.", code="tenant_mismatch")
    spec = catalog.metric(query.metric)
    build = Build(catalog, query, context)
    if rollups is not None:
        build.rollups = rollups
    build.params.named("width", query.granularity.interval)
    top = _metric(build, spec, stack=())
    select = exp.select(
        column("m", BUCKET).as_(quoted(BUCKET)),
        *(column("m", d).as_(quoted(d)) for d in build.dim_names),
        column("m", VALUE).as_(quoted(VALUE)),
    ).from_(exp.Table(this=quoted(top.cte), alias=exp.TableAlias(this=quoted("m"))))
    select = select.order_by(*(exp.Ordered(this=column("m", c), nulls_first=False) for c in [BUCKET, *build.dim_names]))
    for name, body in build.ctes:
        select = select.with_(quoted(name), as_=body)
    return CompiledQuery(
        sql=select.sql(dialect="postgres", pretty=True),
        params=build.params.values,
        metric=spec,
        dims=tuple(query.group_by),
        entities=tuple(sorted(build.entities)),
        has_time=top.has_time,
        route=_route_label(build),
        routes=tuple(explained for explained, _ in build.routes),
        mode=query.mode or spec.mode,
    )


def _route_label(build: Build) -> str:
    """The request's route: `raw` or `rollup` when every fact scan agrees,
    `rollup+raw` for any mix (reference tables do not count)."""
    kinds = {explained["route"] for explained, counted in build.routes if counted}
    if not kinds or kinds == {RAW}:
        return RAW
    return ROLLUP if kinds == {ROLLUP} else ROLLUP_RAW


@dataclass(frozen=True)
class CompiledTable:
    """An ad-hoc query: bucket, the group-by values, then one column per measure."""

    sql: str
    params: dict[str, Any]
    columns: tuple[str, ...]
    entities: tuple[str, ...]


def measures_compile(
    *, catalog: Catalog, entity: str, measures: dict[str, str], query: MetricQuery, context: AccessContext
) -> CompiledTable:
    """Several formulas over one entity (an ad-hoc query) in one statement:
    each measure is compiled like a metric of that entity, then all are
    joined on (bucket, dims)."""
    if context.client_id != catalog.client_id:
        raise AppError("The access context and the ontology belong to different clients.", code="tenant_mismatch")
    catalog.entity(entity)
    specs = {
        f"_q{i}": MetricSpec(
            code=f"_q{i}", name=name, formula=formula, entity=entity, unit="", domain="", mode="exact", version=""
        )
        for i, (name, formula) in enumerate(measures.items())
    }
    scoped = Catalog(catalog.client_id, catalog.entities, catalog.relationships, {**catalog.metrics, **specs})
    build = Build(scoped, query, context)
    build.params.named("width", query.granularity.interval)
    parts = []
    for spec in specs.values():
        try:
            parts.append(_metric(build, spec, stack=()))
        except AppError as exc:
            exc.message = f"Measure {spec.name!r}: {exc.message}"
            exc.details = {**exc.details, "measure": spec.name}
            raise
    has_time = any(p.has_time for p in parts)
    keys: exp.Expression | None = None
    for part in parts:
        if part.has_time or not has_time:
            select = exp.select(quoted(BUCKET), *(quoted(d) for d in build.dim_names)).from_(quoted(part.cte))
            keys = select if keys is None else exp.union(keys, select, distinct=True)
    build.ctes.append(("k", keys))
    names = list(measures)
    select = exp.select(
        column("k", BUCKET).as_(quoted(BUCKET)),
        *(column("k", d).as_(quoted(d)) for d in build.dim_names),
        *(column(f"r{i}", VALUE).as_(quoted(f"v{i}")) for i in range(len(parts))),
    ).from_(exp.Table(this=quoted("k"), alias=exp.TableAlias(this=quoted("k"))))
    for i, part in enumerate(parts):
        matches = [exp.NullSafeEQ(this=column(f"r{i}", d), expression=column("k", d)) for d in build.dim_names]
        if part.has_time or not has_time:
            matches.insert(0, exp.NullSafeEQ(this=column(f"r{i}", BUCKET), expression=column("k", BUCKET)))
        select = select.join(
            exp.Table(this=quoted(part.cte), alias=exp.TableAlias(this=quoted(f"r{i}"))),
            on=exp.and_(*matches) if matches else exp.true(),
            join_type="left",
        )
    select = select.order_by(*(exp.Ordered(this=column("k", c), nulls_first=False) for c in [BUCKET, *build.dim_names]))
    for name, body in build.ctes:
        select = select.with_(quoted(name), as_=body)
    return CompiledTable(
        sql=select.sql(dialect="postgres", pretty=True),
        params=build.params.values,
        columns=("bucket", *query.group_by, *names),
        entities=tuple(sorted(build.entities)),
    )


def _metric(build: Build, spec: MetricSpec, *, stack: tuple[str, ...]) -> Component:
    if spec.code in build.components:
        return build.components[spec.code]
    if spec.code in stack:
        raise AppError(
            "Circular reference between metrics: " + " -> ".join([*stack, spec.code]) + ".",
            code="circular_reference",
        )
    entity = build.catalog.entities.get(spec.entity) if spec.entity else None
    formula = build.catalog.metric_formula(spec, typed=True)
    references = {}
    for name in sorted(formula.metrics):
        references[name] = _metric(build, build.catalog.metric_by_reference(name), stack=(*stack, spec.code))
    if not references and "AT_START" not in formula.functions:
        component = Component(f"m_{spec.code}", entity is not None and entity.is_time_series)
        build.ctes.append((component.cte, _aggregate_select(build, spec, entity, formula.root)))
    else:
        component = _derived(build, spec, entity, formula.root, references)
    build.components[spec.code] = component
    return component


def _derived(
    build: Build, spec: MetricSpec, entity: EntitySpec | None, root: n.Node, references: dict[str, Component]
) -> Component:
    """A metric whose value joins several parts on (bucket, dims): other
    metrics (`r<i>`), its own aggregates over each period's rows (`a`) and
    its opening-balance aggregates (`o`, AT_START: rows of the previous
    period's last snapshot, attributed to this period)."""
    aggregates: dict[str, list[n.Call]] = {"a": [], "o": []}

    def collect(node: n.Call) -> exp.Expression:
        alias = "o" if node.function == "AT_START" else "a"
        aggregates[alias].append(node)
        return column(alias, f"a{len(aggregates[alias]) - 1}")

    def reference(name: str) -> exp.Expression:
        return column(f"r{list(references).index(name)}", VALUE)

    # Outside aggregates a name is another metric (the parser made sure).
    value = compile_node(root, Scope(params=build.params, attribute=reference, aggregate=collect))
    parts: list[tuple[str, str, bool]] = []  # (cte, alias, has_time)
    for alias, found in aggregates.items():
        if found:
            own = f"{alias}_{spec.code}"
            build.ctes.append((own, _aggregate_select(build, spec, entity, None, columns=found, opening=alias == "o")))
            parts.append((own, alias, entity is not None and entity.is_time_series))
    parts += [(c.cte, f"r{i}", c.has_time) for i, c in enumerate(references.values())]
    has_time = any(p[2] for p in parts)
    keys_cte = f"k_{spec.code}"
    keys: exp.Expression | None = None
    for cte, _, part_has_time in parts:
        if part_has_time or not has_time:
            part = exp.select(quoted(BUCKET), *(quoted(d) for d in build.dim_names)).from_(quoted(cte))
            keys = part if keys is None else exp.union(keys, part, distinct=True)
    build.ctes.append((keys_cte, keys))
    select = exp.select(
        column("k", BUCKET).as_(quoted(BUCKET)),
        *(column("k", d).as_(quoted(d)) for d in build.dim_names),
        exp.alias_(value, quoted(VALUE)),
    ).from_(exp.Table(this=quoted(keys_cte), alias=exp.TableAlias(this=quoted("k"))))
    for cte, alias, part_has_time in parts:
        matches = [exp.NullSafeEQ(this=column(alias, d), expression=column("k", d)) for d in build.dim_names]
        if part_has_time or not has_time:
            matches.insert(0, exp.NullSafeEQ(this=column(alias, BUCKET), expression=column("k", BUCKET)))
        condition = exp.and_(*matches) if matches else exp.true()
        select = select.join(
            exp.Table(this=quoted(cte), alias=exp.TableAlias(this=quoted(alias))), on=condition, join_type="left"
        )
    component = Component(f"m_{spec.code}", has_time)
    build.ctes.append((component.cte, select))
    return component


def _aggregate_select(
    build: Build,
    spec: MetricSpec,
    entity: EntitySpec | None,
    root: n.Node | None,
    *,
    columns: list[n.Call] | None = None,
    opening: bool = False,
) -> exp.Expression:
    """One scan of `entity`'s rows grouped by bucket and dims: `value` = the
    formula `root`, or one column `a<i>` per aggregate in `columns`. With
    `opening`, the scan reads the rows at each period's opening time (the
    previous period's last snapshot, from the bounds CTE) and groups them
    under the period they open."""
    if entity is None:
        raise AppError(
            f"Metric {spec.code!r} aggregates rows but has no entity; give it one.",
            code="invalid_formula",
            details={"metric": spec.code},
        )
    build.entities.add(entity.code)
    approximate = (build.query.mode or spec.mode) == "approximate"
    route = _route(build, spec, entity, root, columns, opening=opening, approximate=approximate)
    if route.kind != RAW:
        return rollup_select(build, entity, route, root=root, columns=columns, approximate=approximate)
    resolver = PathResolver(build.catalog, entity)
    time_column = column("e", entity.time_attribute) if entity.is_time_series else None
    bucket = None
    if time_column is not None:
        bucket = column("b", BUCKET) if opening else time_bucket(time_column)
    needs_bounds = opening

    def aggregate(node: n.Call) -> exp.Expression:
        nonlocal needs_bounds
        if node.function in PERIOD_WRAPPERS:
            if time_column is None:
                raise AppError(
                    f"{node.function} needs a time-series entity; {entity.code!r} is a reference entity.",
                    code="invalid_formula",
                    details={"token": node.function},
                )
            if opening:  # the join to the bounds already picked the opening rows
                return compile_aggregate(node.args[0], scope)
            needs_bounds = True
            at_end = exp.EQ(this=time_column.copy(), expression=column("b", "last_time"))
            return compile_aggregate(node.args[0], scope, condition=at_end)
        return compile_aggregate(node, scope)

    scope = Scope(
        params=build.params,
        attribute=lambda code: column("e", code),
        aggregate=aggregate,
        period_start=bucket,
        period_end=exp.Add(this=bucket.copy(), expression=width()) if bucket is not None else None,
        time=time_column,
        entity=entity.code,
        approximate=approximate,
        attribute_types={code: a.data_type for code, a in entity.attributes.items()},
    )
    dims = [resolver.column(path, what="group-by attribute") for path in build.query.group_by]
    where = predicates(build, entity, resolver, time_column, lookback=opening)
    if columns is None:
        values = [exp.alias_(compile_node(root, scope), quoted(VALUE))]
    else:
        values = [exp.alias_(aggregate(call), quoted(f"a{i}")) for i, call in enumerate(columns)]
    bucket_out = bucket if bucket is not None else exp.Cast(this=exp.Null(), to=exp.DataType.build("timestamptz"))
    select = exp.select(
        exp.alias_(bucket_out, quoted(BUCKET)),
        *(exp.alias_(column(d.alias, d.sql_name), quoted(name)) for d, name in zip(dims, build.dim_names, strict=True)),
        *values,
    ).from_(table_ref(entity, "e"))
    select = joins_apply(build, select, resolver)
    if needs_bounds:
        bounds_cte = f"b_{entity.code}"  # the same for every metric of the entity in this request
        if all(name != bounds_cte for name, _ in build.ctes):
            build.ctes.append((bounds_cte, _bounds_select(build, entity, time_column)))
        on = (
            exp.EQ(this=time_column.copy(), expression=column("b", "opening_time"))
            if opening
            else exp.EQ(this=column("b", BUCKET), expression=bucket.copy())
        )
        select = select.join(exp.Table(this=quoted(bounds_cte), alias=exp.TableAlias(this=quoted("b"))), on=on)
    if where:
        select = select.where(exp.and_(*where))
    groups = ([exp.Literal.number(1)] if bucket is not None else []) + [
        exp.Literal.number(i + 2) for i in range(len(dims))
    ]
    return select.group_by(*groups) if groups else select


def _route(
    build: Build,
    spec: MetricSpec,
    entity: EntitySpec,
    root: n.Node | None,
    columns: list[n.Call] | None,
    *,
    opening: bool,
    approximate: bool,
) -> Route:
    """Which storage answers this scan (router.py), recorded for `explain`."""
    if opening:
        route = Route(RAW, "AT_START reads the previous period's last snapshot from the raw rows")
    else:
        wanted = AGGREGATES | PERIOD_WRAPPERS
        aggregates = columns if columns is not None else [c for c in calls(root) if c.function in wanted]
        route = route_choose(
            catalog=build.catalog,
            entity=entity,
            aggregates=aggregates,
            query=build.query,
            row_filters=build.context.row_filters,
            policy_paths=policy_paths(build.context, entity.code),
            rollups=build.rollups(entity.code) if entity.is_time_series else [],
            approximate=approximate,
        )
    build.routes.append((route.explain(spec.code, entity.code), entity.is_time_series))
    return route


def _bounds_select(build: Build, entity: EntitySpec, time_column: exp.Expression) -> exp.Expression:
    """Per bucket with rows: its last time value (the closing snapshot
    AT_END reads) and the previous bucket's last time value (the opening
    snapshot AT_START reads), under the same filters as the facts. The scan
    starts one period before the range so the first period has an opening."""
    resolver = PathResolver(build.catalog, entity)
    where = predicates(build, entity, resolver, time_column, lookback=True)
    bucket = time_bucket(time_column)
    last_time = exp.Max(this=time_column.copy())
    previous = exp.Window(
        this=exp.Anonymous(this="LAG", expressions=[last_time.copy()]),
        order=exp.Order(expressions=[exp.Ordered(this=bucket.copy())]),
    )
    select = exp.select(
        exp.alias_(bucket, quoted(BUCKET)),
        exp.alias_(last_time, quoted("last_time")),
        exp.alias_(previous, quoted("opening_time")),
    ).from_(table_ref(entity, "e"))
    select = joins_apply(build, select, resolver)
    if where:
        select = select.where(exp.and_(*where))
    return select.group_by(exp.Literal.number(1))
