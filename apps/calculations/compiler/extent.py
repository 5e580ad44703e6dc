"""The statement reading one entity's data extent: its first and last time
value, under the caller's row filters (never the request's range or
filters). Answers "why is this empty?" next to an empty series."""

from datetime import UTC, datetime

from sqlglot import exp

from apps.calculations.compiler.build import Build, joins_apply, predicates, table_ref
from apps.calculations.compiler.expressions import column, quoted
from apps.calculations.paths import PathResolver
from apps.calculations.types import AccessContext, MetricQuery
from apps.ontology.catalog import Catalog

# Build needs a query; the extent reads no range and no request filter from it.
_NO_RANGE = MetricQuery(metric="", start=datetime(1970, 1, 1, tzinfo=UTC), end=datetime(1970, 1, 2, tzinfo=UTC))


def extent_compile(*, catalog: Catalog, entity: str, context: AccessContext) -> tuple[str, dict] | None:
    """`SELECT min(time), max(time)` of a time-series entity (an index scan of
    its first and last chunk), or None for a reference entity."""
    spec = catalog.entity(entity)
    if not spec.is_time_series:
        return None
    build = Build(catalog, _NO_RANGE, context)
    resolver = PathResolver(catalog, spec)
    time_column = column("e", spec.time_attribute)
    where = predicates(build, spec, resolver, None)
    select = exp.select(
        exp.alias_(exp.Min(this=time_column.copy()), quoted("first")),
        exp.alias_(exp.Max(this=time_column.copy()), quoted("last")),
    ).from_(table_ref(spec, "e"))
    select = joins_apply(build, select, resolver)
    if where:
        select = select.where(exp.and_(*where))
    return select.sql(dialect="postgres", pretty=True), build.params.values
