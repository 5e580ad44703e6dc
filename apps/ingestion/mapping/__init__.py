"""Mapping and standardization: a job's mapping turns one source record into
one row of the target entity (docs/sources.md, "Mapping and standardization").
Pure: no I/O.

    mapper = Mapper.build(entity=entity_view, mapping=job.mapping, source_columns=columns)
    mapped = mapper.apply(record)  # MappedRow(values={attribute: JSON value} | None, errors={attribute: reason})
    report = mapping_validate(entity=..., mapping=..., source_columns=..., sample_records=records)

The mapping: {"fields": {attribute: {"source": field} | {"expression": sql} | {"value": constant}},
"value_maps": {attribute: {source value: value}}, "formats": {attribute: pattern | [patterns]},
"scales": {attribute: factor}, "defaults": {attribute: value}, "time_zones": {attribute: zone},
"normalise": {attribute: {"trim": bool, "case": "upper" | "lower" | "title" | null}}}.

Modules: mapper.py (Mapper, MappedRow), values.py (normalisation, value-map
keys, number/boolean/text converters), dates.py (patterns, time zones),
validation.py (the checks and the compiled plan; mapping_validate)."""

from apps.ingestion.mapping.mapper import MappedRow, Mapper
from apps.ingestion.mapping.validation import mapping_validate

__all__ = ["MappedRow", "Mapper", "mapping_validate"]
