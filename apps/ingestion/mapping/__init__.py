"""Mapping and standardization: a job's mapping turns one source record into
one row of the target entity (docs/sources.md, "Mapping"). Pure: no I/O.

    mapper = Mapper.build(entity=entity_view, mapping=job.mapping, source_columns=columns)
    mapped = mapper.apply(record)  # MappedRow(values={attribute: JSON value} | None, errors={attribute: reason})

The mapping (API.md): {"fields": {attribute: {"source": field} | {"expression": sql} | {"value": constant}},
"value_maps": {attribute: {source value: value}}, "formats": {attribute: strptime pattern}, ...}.

This first version maps `source` and `value` fields and copies values as
they are; the full standardization (value maps, formats, scales, defaults,
time zones, validation against the entity) replaces it."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from apps.connectors.types import SourceColumn
from apps.core.errors import AppError
from apps.ontology.types.definitions import EntityView


@dataclass(frozen=True)
class MappedRow:
    values: dict[str, Any] | None  # None when the record cannot be mapped
    errors: dict[str, str] = field(default_factory=dict)


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class Mapper:
    entity: EntityView
    sources: dict[str, str]  # attribute -> source field
    constants: dict[str, Any]

    @classmethod
    def build(
        cls, *, entity: EntityView, mapping: Mapping[str, Any], source_columns: Sequence[SourceColumn] | None = None
    ) -> "Mapper":
        fields = mapping.get("fields") or {}
        known = {attribute.code for attribute in entity.attributes}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise AppError(
                f"The mapping names attributes entity {entity.code!r} does not have: {', '.join(unknown)}.",
                code="invalid_mapping",
                details={"unknown_attributes": unknown},
            )
        sources = {a: spec["source"] for a, spec in fields.items() if "source" in spec}
        constants = {a: spec["value"] for a, spec in fields.items() if "value" in spec}
        return cls(entity=entity, sources=sources, constants=constants)

    def apply(self, record: Mapping[str, Any]) -> MappedRow:
        values = {attribute: _json_ready(record.get(source)) for attribute, source in self.sources.items()}
        values.update(self.constants)
        return MappedRow(values=values)
