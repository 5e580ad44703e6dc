"""What the last schema discovery of a connection recorded in its
DataSourceDefinition (code = the connection's code; settings
{"connection", "objects": [{"name", "kind", "columns": [{"name", "type", ...}]}]}),
read by ingestion to check a job's mapping against the source's columns."""

from dataclasses import dataclass

from apps.ontology import models as m


@dataclass(frozen=True)
class DiscoveredColumn:
    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class DiscoveredObject:
    name: str
    columns: tuple[DiscoveredColumn, ...]


def discovered_object(*, client_id: int, source: str, name: str) -> DiscoveredObject | None:
    """The object `name` as source `source`'s last discovery saw it, or None
    when the source was never discovered or did not have it."""
    definition = m.DataSourceDefinition.objects.filter(client_id=client_id, code=source).first()
    if definition is None:
        return None
    for entry in (definition.settings or {}).get("objects") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            columns = tuple(
                DiscoveredColumn(
                    name=str(c["name"]), type=str(c.get("type") or "string"), nullable=bool(c.get("nullable", True))
                )
                for c in entry.get("columns") or []
                if isinstance(c, dict) and c.get("name")
            )
            return DiscoveredObject(name=name, columns=columns)
    return None
