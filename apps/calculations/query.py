"""Ad-hoc queries (spec: Database Service / Ad-Hoc Query Engine): measures
over one entity, compiled by the same builder as metrics and read through
the read-only database alias."""

from dataclasses import dataclass
from typing import Any

from apps.calculations.compiler.statement import measures_compile
from apps.calculations.extent import data_extent
from apps.calculations.orchestrator import query_validate
from apps.calculations.runner import finite_value, json_value, sql_run
from apps.calculations.types import AccessContext, DataExtent, MetricQuery, TimeRange
from apps.ontology.catalog import catalog_load

READ_ALIAS = "readonly"


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[list[Any]]
    range: TimeRange
    extent: DataExtent | None = None  # with no rows: the entity's first and last time


def adhoc_query_run(
    *, context: AccessContext, entity: str, measures: dict[str, str], query: MetricQuery
) -> QueryResult:
    query_validate(query)
    catalog = catalog_load(client_id=context.client_id)
    compiled = measures_compile(catalog=catalog, entity=entity, measures=measures, query=query, context=context)
    rows = sql_run(compiled.sql, compiled.params, using=READ_ALIAS)
    keys = len(compiled.columns) - len(measures)  # bucket and group-by values, then one value per measure
    names = list(measures)
    extent = None if rows else data_extent(catalog=catalog, entities=[entity], context=context)
    return QueryResult(
        compiled.columns,
        [
            [json_value(v) for v in row[:keys]] + [finite_value(v, metric=names[i]) for i, v in enumerate(row[keys:])]
            for row in rows
        ],
        range=TimeRange(query.start, query.end),
        extent=extent,
    )
