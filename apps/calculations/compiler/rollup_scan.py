"""A fact scan answered from a rollup (route `rollup`) or from a rollup plus
the raw rows past its watermark (route `rollup+raw`): the same select as a
raw scan, grouped by bucket and dims, but over partial states. For
`rollup+raw` the raw tail is turned into the same partial states on the fly
(grouped by the rollup's grain) and appended with UNION ALL, so every
aggregate merges one uniform set of rows."""

from sqlglot import exp

from apps.calculations.compiler.build import BUCKET, VALUE, Build, joins_apply, predicates, range_values, width
from apps.calculations.compiler.expressions import Scope, column, compile_aggregate, compile_node, quoted
from apps.calculations.compiler.router import ROLLUP_RAW, Route
from apps.calculations.paths import PathResolver
from apps.calculations.rollup_spec import HLL_LOG2M, TDIGEST_COMPRESSION, RollupSpec
from apps.ontology.catalog import EntitySpec
from apps.ontology.types import formula as n

GRAIN_WIDTH = {"minute": "1 minute", "hour": "1 hour", "day": "1 day"}


def _bucket_of(expression: exp.Expression, interval: exp.Expression) -> exp.Expression:
    timestamp = exp.Cast(this=expression, to=exp.DataType.build("timestamptz"))
    return exp.Anonymous(this="time_bucket", expressions=[interval, timestamp])


def rollup_select(
    build: Build,
    entity: EntitySpec,
    route: Route,
    *,
    root: n.Node | None = None,
    columns: list[n.Call] | None = None,
    approximate: bool = False,
) -> exp.Select:
    rollup = route.rollup
    resolver = PathResolver(build.catalog, entity, base_columns=rollup.dims)
    bucket = _bucket_of(column("e", BUCKET), width())
    scope = Scope(
        params=build.params,
        attribute=lambda code: column("e", rollup.dims[code]),
        aggregate=lambda node: compile_aggregate(node, scope),
        period_start=bucket,
        period_end=exp.Add(this=bucket.copy(), expression=width()),
        entity=entity.code,
        approximate=approximate,
        rollup=rollup,
    )
    dims = [resolver.column(path, what="group-by attribute") for path in build.query.group_by]
    where = predicates(build, entity, resolver, None)
    if columns is None:
        values = [exp.alias_(compile_node(root, scope), quoted(VALUE))]
    else:
        values = [exp.alias_(compile_aggregate(call, scope), quoted(f"a{i}")) for i, call in enumerate(columns)]
    source = _source(build, entity, route, sorted(scope.used_columns))
    select = exp.select(
        exp.alias_(bucket, quoted(BUCKET)),
        *(exp.alias_(column(d.alias, d.sql_name), quoted(name)) for d, name in zip(dims, build.dim_names, strict=True)),
        *values,
    ).from_(source)
    select = joins_apply(build, select, resolver)
    if where:
        select = select.where(exp.and_(*where))
    return select.group_by(*(exp.Literal.number(i + 1) for i in range(len(dims) + 1)))


def _source(build: Build, entity: EntitySpec, route: Route, states: list[str]) -> exp.Expression:
    """The rollup rows in range (aliased `e`), with the raw tail's partial
    states appended for `rollup+raw`."""
    rollup, query, params = route.rollup, build.query, build.params
    build.entities.add(entity.code)
    names = [BUCKET, *rollup.dims.values(), *states]
    stored_end = min(query.end, rollup.watermark)
    stored = (
        exp.select(*(quoted(name) for name in names))
        .from_(exp.Table(this=quoted(rollup.table), db=quoted(rollup.schema)))
        .where(
            exp.and_(
                exp.GTE(this=exp.column(BUCKET, quoted=True), expression=params.bind(query.start)),
                exp.LT(this=exp.column(BUCKET, quoted=True), expression=params.bind(stored_end)),
            )
        )
    )
    if route.kind == ROLLUP_RAW:
        stored = exp.union(stored, _tail(build, entity, rollup, states), distinct=False)
    return exp.Subquery(this=stored, alias=exp.TableAlias(this=quoted("e")))


def _tail(build: Build, entity: EntitySpec, rollup: RollupSpec, states: list[str]) -> exp.Select:
    """Partial states of the raw rows in [watermark, end), per grain bucket and dims."""
    params = build.params
    raw_time = column("r", entity.time_attribute)
    time_type = entity.attributes[entity.time_attribute].data_type
    tail_start, tail_end = range_values(rollup.watermark, build.query.end, time_type)
    grain = exp.Cast(this=params.bind(GRAIN_WIDTH[rollup.grain]), to=exp.DataType.build("interval"))
    by_column = {name: key for key, name in rollup.states.items()}
    selects = [exp.alias_(_bucket_of(raw_time, grain), quoted(BUCKET))]
    selects += [exp.alias_(column("r", attribute), quoted(name)) for attribute, name in rollup.dims.items()]
    for name in states:
        selects.append(exp.alias_(_partial(name, by_column, rollup, entity), quoted(name)))
    return (
        exp.select(*selects)
        .from_(exp.Table(this=quoted(entity.table), db=quoted(entity.schema), alias=exp.TableAlias(this=quoted("r"))))
        .where(
            exp.and_(
                exp.GTE(this=raw_time.copy(), expression=params.bind(tail_start)),
                exp.LT(this=raw_time.copy(), expression=params.bind(tail_end)),
            )
        )
        .group_by(*(exp.Literal.number(i + 1) for i in range(len(rollup.dims) + 1)))
    )


def hashable(value: exp.Expression, data_type: str) -> exp.Expression:
    """What the rollup's refresh hashes into its hll sketch (rollups/ddl.py):
    numeric values without trailing zeros, since 1.0 and 1.00 hash apart."""
    return exp.Anonymous(this="trim_scale", expressions=[value]) if data_type == "decimal" else value


def _partial(
    name: str, by_column: dict[str, tuple[str, str]], rollup: RollupSpec, entity: EntitySpec
) -> exp.Expression:
    if name == rollup.row_count_column:
        return exp.Count(this=exp.Star())
    attribute, state = by_column[name]
    value = column("r", attribute)
    if state == "sum":
        return exp.Cast(this=exp.Sum(this=value), to=exp.DataType.build("numeric"))
    if state == "count":
        return exp.Count(this=value)
    if state in ("min", "max"):
        return (exp.Min if state == "min" else exp.Max)(this=value)
    if state == "hll":
        hashed = exp.Anonymous(
            this="hll_hash_any", expressions=[hashable(value, entity.attributes[attribute].data_type)]
        )
        return exp.Anonymous(this="hll_add_agg", expressions=[hashed, exp.Literal.number(HLL_LOG2M)])
    double = exp.Cast(this=value, to=exp.DataType.build("double"))
    return exp.Anonymous(this="tdigest", expressions=[double, exp.Literal.number(TDIGEST_COMPRESSION)])
