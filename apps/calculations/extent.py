"""What an answer covered and what data there is: the range a metric answer
computed, and, when it is empty, the data extent of the entities it reads
(docs/metrics-api.md, "Empty answers")."""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from apps.calculations.compiler.extent import extent_compile
from apps.calculations.runner import sql_run
from apps.calculations.types import AccessContext, DataExtent
from apps.ontology.catalog import Catalog


def _moment(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


def data_extent(*, catalog: Catalog, entities: Iterable[str], context: AccessContext) -> DataExtent:
    """The first and last time value over the time-series `entities` the
    caller may see; both None when they have no rows (or have no time)."""
    firsts, lasts = [], []
    for entity in sorted(set(entities)):
        compiled = extent_compile(catalog=catalog, entity=entity, context=context)
        if compiled is None:
            continue
        [(first, last)] = sql_run(*compiled)
        if first is not None:
            firsts.append(_moment(first))
            lasts.append(_moment(last))
    return DataExtent(first=min(firsts, default=None), last=max(lasts, default=None))
