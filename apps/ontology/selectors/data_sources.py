"""Reading a client's data source definitions back, as dataclasses."""

from apps.ontology import models as m
from apps.ontology.types import DataSourceView


def data_source_get(*, client_id: int, code: str) -> DataSourceView | None:
    """The client's data source `code`, None when there is none."""
    source = m.DataSourceDefinition.objects.filter(client_id=client_id, code=code).first()
    if source is None:
        return None
    return DataSourceView(
        code=source.code,
        name=source.name,
        kind=source.kind,
        settings=dict(source.settings or {}),
        schedule=source.schedule,
        updated_at=source.updated_at,
    )
