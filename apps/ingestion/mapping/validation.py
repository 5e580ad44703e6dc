"""The mapping checked against the entity, and compiled: one closure per
mapped attribute that turns a source value into the attribute's value
(`Plan.steps`), built once so `Mapper.apply` is a tight loop.

`mapping_compile` never raises for a bad mapping: it lists the problems
(`Plan.errors`); `Mapper.build` refuses a plan with errors (400
`invalid_mapping`) and `mapping_validate` reports them with what a sample of
source records would give."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.connectors.types import SourceColumn
from apps.core.close_matches import close_matches
from apps.ingestion.mapping import dates, values
from apps.ingestion.mapping.columns import ColumnConvert, column_converter
from apps.ingestion.mapping.values import Bad, shown
from apps.ingestion.types import MappingIssue, MappingReport
from apps.ontology.types.definitions import AttributeView, EntityView

MAPPING_KEY = "_mapping"  # issues about the mapping as a whole (attribute codes never start with "_")
SECTIONS = ("fields", "value_maps", "formats", "scales", "defaults", "time_zones", "normalise")
FIELD_KINDS = ("source", "expression", "value")
TEMPORAL = ("date", "timestamp")
NUMERIC = ("integer", "decimal")
NORMALISE_KEYS = ("trim", "case")
MAX_UNMAPPED_LISTED = 50
MEMO_SIZE = 10_000
_MISSING = object()
# Source types whose values convert to the attribute type without surprises.
_COMPATIBLE = {
    ("integer", "decimal"),
    ("date", "timestamp"),
    ("integer", "boolean"),
    *((t, "string") for t in ("integer", "decimal", "boolean", "date", "timestamp")),
    *((t, "json") for t in ("string", "integer", "decimal", "boolean", "date", "timestamp")),
}


@dataclass(frozen=True)
class Step:
    attribute: str
    source: str
    convert: Callable[[Any], Any]  # source value -> the attribute's value; raises Bad
    # a column of source values -> [convert(v) for v in it], or None when one fails (columns.py)
    column: ColumnConvert | None = None
    # attributes with allowed values: the normalised source value when neither mapped nor allowed, else None
    unmatched: Callable[[Any], str | None] | None = None


@dataclass
class Plan:
    sources: dict[str, str] = field(default_factory=dict)  # attribute -> source field
    constants: dict[str, Any] = field(default_factory=dict)  # attribute -> JSON-ready value
    steps: list[Step] = field(default_factory=list)
    errors: list[MappingIssue] = field(default_factory=list)
    warnings: list[MappingIssue] = field(default_factory=list)

    def error(self, attribute: str, code: str, message: str) -> None:
        self.errors.append(MappingIssue(attribute, code, message))

    def warn(self, attribute: str, code: str, message: str) -> None:
        self.warnings.append(MappingIssue(attribute, code, message))


def _close(name: str, choices: Sequence[str]) -> list[str]:
    return close_matches(name, choices)


def _close_hint(name: str, choices: Sequence[str]) -> str:
    close = _close(name, choices)
    return f" Did you mean {', '.join(close)}?" if close else ""


def _base_converter(attribute: AttributeView, *, formats=(), zone=None, scale=None) -> values.Converter:
    kind = attribute.data_type
    if kind == "string":
        return values.string_converter()
    if kind == "integer":
        return values.integer_converter(scale)
    if kind == "decimal":
        return values.decimal_converter(scale)
    if kind == "boolean":
        return values.boolean_converter()
    if kind == "date":
        return dates.date_converter(formats)
    if kind == "timestamp":
        return dates.timestamp_converter(formats, zone)
    return values.json_converter()


def _target(attribute: AttributeView) -> Callable[[Any], Any]:
    """A value given in the attribute's own terms (a constant, a default, a
    value-map target) as it is stored: typed, an allowed value (canonical
    spelling), not null for a required attribute. Raises Bad."""
    convert = _base_converter(attribute)
    allowed = {values.key_of(v): v for v in attribute.enum_values}
    choices = ", ".join(attribute.enum_values)

    def target(value: Any) -> Any:
        if value is None:
            if attribute.nullable:
                return None
            raise Bad("null, but the attribute is required")
        converted = convert(value)
        if allowed:
            canonical = allowed.get(values.key_of(converted))
            if canonical is None:
                raise Bad(f"{shown(value)} is not one of the allowed values: {choices}")
            return canonical
        return converted

    return target


def _section(plan: Plan, mapping: Mapping[str, Any], name: str, known: Sequence[str]) -> dict[str, Any]:
    section = mapping.get(name)
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        plan.error(
            MAPPING_KEY, "invalid_section", f"{name!r} must be an object of attribute: ..., got {shown(section)}."
        )
        return {}
    found = {}
    for attribute, spec in section.items():
        if attribute not in known:
            plan.error(
                str(attribute),
                "unknown_attribute",
                f"{name} names {attribute!r}, which is not an attribute of the entity "
                f"(it has: {', '.join(known)}).{_close_hint(str(attribute), known)}",
            )
            continue
        found[attribute] = spec
    return found


def _formats(plan: Plan, attribute: AttributeView, spec: Any) -> list[str] | None:
    code = attribute.code
    if attribute.data_type not in TEMPORAL:
        plan.error(
            code,
            "format_not_applicable",
            f"formats apply to date and timestamp attributes; {code} is {attribute.data_type}.",
        )
        return None
    patterns = [spec] if isinstance(spec, str) else spec
    if not isinstance(patterns, list) or not patterns:
        plan.error(
            code, "invalid_format", f"formats.{code} must be a strptime pattern or a list of them, got {shown(spec)}."
        )
        return None
    problems = [p for p in map(dates.pattern_problem, patterns) if p]
    if problems:
        plan.error(code, "invalid_format", f"formats.{code}: {'; '.join(problems)}.")
        return None
    return patterns


def _zone(plan: Plan, attribute: AttributeView, spec: Any) -> str | None:
    code = attribute.code
    if attribute.data_type != "timestamp":
        plan.error(
            code,
            "time_zone_not_applicable",
            f"time_zones apply to timestamp attributes; {code} is {attribute.data_type}.",
        )
        return None
    problem = dates.zone_problem(spec)
    if problem:
        plan.error(code, "unknown_time_zone", f"time_zones.{code}: {problem}.")
        return None
    return spec


def _scale(plan: Plan, attribute: AttributeView, spec: Any) -> Decimal | None:
    code = attribute.code
    if attribute.data_type not in NUMERIC:
        plan.error(
            code,
            "scale_not_applicable",
            f"scales apply to integer and decimal attributes; {code} is {attribute.data_type}.",
        )
        return None
    factor = values.scale_parse(spec)
    if factor is None:
        plan.error(
            code,
            "invalid_scale",
            f"scales.{code} must be a finite number (0.01 turns cents into units), got {shown(spec)}.",
        )
    return factor


def _normalise(plan: Plan, attribute: AttributeView, spec: Any) -> tuple[bool, Callable[[str], str] | None]:
    code = attribute.code
    if not isinstance(spec, Mapping) or set(spec) - set(NORMALISE_KEYS):
        plan.error(
            code,
            "invalid_normalise",
            f'normalise.{code} must be {{"trim": true|false, "case": "upper"|"lower"|"title"|null}}, '
            f"got {shown(spec)}.",
        )
        return True, None
    trim, case = spec.get("trim", True), spec.get("case")
    if not isinstance(trim, bool):
        plan.error(code, "invalid_normalise", f"normalise.{code}.trim must be true or false, got {shown(trim)}.")
        trim = True
    if case is not None and (not isinstance(case, str) or case not in values.CASES):
        plan.error(
            code, "invalid_normalise", f"normalise.{code}.case must be upper, lower, title or null, got {shown(case)}."
        )
        case = None
    return trim, values.CASES.get(case) if case else None


def _value_map(plan: Plan, attribute: AttributeView, spec: Any, target) -> dict[str, Any] | None:
    code = attribute.code
    if not isinstance(spec, Mapping):
        plan.error(
            code, "invalid_value_map", f"value_maps.{code} must be an object of source value: value, got {shown(spec)}."
        )
        return None
    table: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    problems = []
    for source_value, value in spec.items():
        try:
            stored = target(value)
        except Bad as exc:
            problems.append(f"{shown(source_value)} -> {exc}")
            continue
        key = values.key_of(str(source_value))
        if key in table and table[key] != stored:
            problems.append(
                f"{shown(spelled[key])} and {shown(source_value)} are the same source value "
                "(case and spaces do not count) mapped to different values"
            )
        table[key], spelled[key] = stored, str(source_value)
    if problems:
        plan.error(code, "invalid_value_map", f"value_maps.{code}: {'; '.join(problems)}.")
        return None
    return table


def _step(
    attribute: AttributeView,
    source: str,
    convert: values.Converter,
    *,
    table: dict[str, Any] | None,
    has_map: bool,
    default: Any,
    trim: bool,
    case: Callable[[str], str] | None,
    scaled: bool = False,
    zone_name: str | None = None,
) -> Step:
    """The closure of one attribute: null/blank -> default; strings trimmed and
    cased; the value map (with the allowed values themselves); the type."""
    has_default = default is not _MISSING
    nullable = attribute.nullable
    strict = bool(attribute.enum_values)
    key_of = values.table_key
    choices = ", ".join(attribute.enum_values)

    def missing():
        if has_default:
            return default
        if nullable:
            return None
        raise Bad(f"required, and source field {source} is empty: map a field that has a value or add a default")

    def normalised(raw):
        if type(raw) is str:
            if trim:
                raw = raw.strip()
            if not raw or raw.isspace():
                return _MISSING
            if case is not None:
                raw = case(raw)
        return raw

    def unmatched_reason(raw) -> str:
        if has_map:
            return f"value {shown(raw)} of source field {source} is not in the value map: add it or a default"
        return (
            f"value {shown(raw)} of source field {source} is not one of the allowed values ({choices}): "
            "add it to the value map or add a default"
        )

    is_string = attribute.data_type == "string"
    # Source codes repeat: each spelling seen is looked up once (bounded, for sources of free text).
    memo: dict[Any, Any] = {}

    def lookup(raw):
        hit = memo.get(raw, _MISSING) if type(raw) is str else _MISSING
        if hit is _MISSING:
            hit = table.get(key_of(raw), _MISSING)
            if type(raw) is str and len(memo) < MEMO_SIZE:
                memo[raw] = hit
        if hit is not _MISSING:
            return hit
        if strict:
            if has_default:
                return default
            raise Bad(unmatched_reason(raw))
        return _MISSING

    def convert_one(raw):
        if type(raw) is str:
            if trim:
                raw = raw.strip()
                if not raw:
                    return missing()
            elif not raw or raw.isspace():
                return missing()
            if case is not None:
                raw = case(raw)
            if table is not None:
                hit = lookup(raw)
                if hit is not _MISSING:
                    return hit
            if is_string:
                return raw
        elif raw is None:
            return missing()
        elif table is not None:
            hit = lookup(raw)
            if hit is not _MISSING:
                return hit
        try:
            return convert(raw)
        except Bad as exc:
            raise Bad(f"{exc} (source field {source})") from None

    unmatched = None
    if strict:

        def unmatched(raw) -> str | None:
            if raw is None:
                return None
            raw = normalised(raw)
            if raw is _MISSING or key_of(raw) in table:
                return None
            return raw if type(raw) is str else shown(raw)

    column = column_converter(
        convert_one, attribute=attribute, mapped=table is not None, scaled=scaled, zone_name=zone_name
    )
    return Step(attribute=attribute.code, source=source, convert=convert_one, column=column, unmatched=unmatched)


def _unused_warn(plan: Plan, code: str, sections: Mapping[str, Mapping[str, Any]]) -> None:
    for name in ("value_maps", "formats", "scales", "time_zones", "normalise"):
        if code in sections[name]:
            plan.warn(code, "unused", f"{name}.{code} is not used: the mapping takes {code} from no source field.")


def mapping_compile(*, entity: EntityView, mapping: Any, source_columns: Sequence[SourceColumn] | None = None) -> Plan:
    plan = Plan()
    if not isinstance(mapping, Mapping):
        plan.error(
            MAPPING_KEY,
            "invalid_mapping",
            f"The mapping must be an object with fields, value_maps, ..., got {shown(mapping)}.",
        )
        return plan
    for key in mapping:
        if key not in SECTIONS:
            plan.error(
                MAPPING_KEY,
                "unknown_key",
                f"Unknown mapping key {key!r}; the keys are {', '.join(SECTIONS)}.{_close_hint(str(key), SECTIONS)}",
            )
    attributes = {a.code: a for a in entity.attributes}
    known = list(attributes)
    sections = {name: _section(plan, mapping, name, known) for name in SECTIONS}
    fields, value_maps, defaults = sections["fields"], sections["value_maps"], sections["defaults"]
    column_names = [c.name for c in source_columns] if source_columns is not None else None

    for code, attribute in attributes.items():
        errors_before = len(plan.errors)
        target = _target(attribute)
        formats = _formats(plan, attribute, sections["formats"][code]) if code in sections["formats"] else ()
        zone = _zone(plan, attribute, sections["time_zones"][code]) if code in sections["time_zones"] else None
        scale = _scale(plan, attribute, sections["scales"][code]) if code in sections["scales"] else None
        trim, case = (
            _normalise(plan, attribute, sections["normalise"][code]) if code in sections["normalise"] else (True, None)
        )
        table = _value_map(plan, attribute, value_maps[code], target) if code in value_maps else None
        default = _MISSING
        if code in defaults:
            try:
                default = target(defaults[code])
            except Bad as exc:
                plan.error(code, "invalid_default", f"defaults.{code}: {exc}.")

        spec = fields.get(code, _MISSING)
        source = None
        if spec is _MISSING:
            if default is _MISSING and (not attribute.nullable or code == entity.time_attribute):
                plan.error(
                    code,
                    "required_unmapped",
                    f"{code} is required{' (the time attribute)' if code == entity.time_attribute else ''} "
                    "and the mapping gives it no source field, constant or default.",
                )
            elif default is not _MISSING:
                plan.constants[code] = default
            _unused_warn(plan, code, sections)
            continue
        kinds = [k for k in FIELD_KINDS if isinstance(spec, Mapping) and k in spec]
        if not isinstance(spec, Mapping) or len(kinds) != 1 or len(spec) != 1:
            given = ", ".join(map(str, spec)) or "an empty object" if isinstance(spec, Mapping) else shown(spec)
            plan.error(
                code,
                "invalid_field",
                f'fields.{code} must be exactly one of {{"source": field}}, {{"expression": sql}}, '
                f'{{"value": constant}}; got {given}.',
            )
            continue
        if kinds[0] == "expression":
            plan.error(
                code,
                "expression_not_supported",
                f"fields.{code}: expressions are not available yet; they come with transformations "
                '(issue "Transformations"). Map a source field or a constant.',
            )
            continue
        if kinds[0] == "value":
            try:
                plan.constants[code] = target(spec["value"])
            except Bad as exc:
                plan.error(code, "invalid_constant", f"fields.{code}.value: {exc}.")
            _unused_warn(plan, code, sections)
            continue
        source = spec["source"]
        if not isinstance(source, str) or not source:
            plan.error(
                code, "invalid_field", f"fields.{code}.source must be the name of a source field, got {shown(source)}."
            )
            continue
        if column_names is not None and source not in column_names:
            close = _close(source, column_names)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            plan.error(
                code,
                "unknown_source_field",
                f"fields.{code}: the source has no field {source!r}.{hint} Its fields: {', '.join(column_names[:30])}"
                f"{' ...' if len(column_names) > 30 else ''}.",
            )
            continue
        plan.sources[code] = source
        if len(plan.errors) == errors_before:
            if table is None and attribute.enum_values:
                table = {}
            if table is not None:
                for allowed in attribute.enum_values:  # a source value already allowed passes
                    table.setdefault(values.key_of(allowed), allowed)
            convert = _base_converter(attribute, formats=formats or (), zone=zone, scale=scale)
            plan.steps.append(
                _step(
                    attribute,
                    source,
                    convert,
                    table=table,
                    has_map=code in value_maps,
                    default=default,
                    trim=trim,
                    case=case,
                    scaled=scale is not None,
                    zone_name=zone,
                )
            )
    return plan


def _type_warning(column: SourceColumn, attribute: AttributeView, rejected: int, sampled: int) -> str | None:
    if column.type == attribute.data_type or (column.type, attribute.data_type) in _COMPATIBLE:
        return None
    verb = "parsed" if column.type == "string" else "converted"
    tail = f"; {rejected} of the {sampled} sample records fail" if sampled else ""
    return (
        f"source field {column.name} is {column.type} and {attribute.code} is {attribute.data_type}: "
        f"values will be {verb}{tail}."
    )


def mapping_validate(
    *,
    entity: EntityView,
    mapping: Any,
    source_columns: Sequence[SourceColumn] | None,
    sample_records: Sequence[Mapping[str, Any]] = (),
) -> MappingReport:
    """The mapping's problems (errors stop a job; warnings do not), and over
    the sample: per attribute how many records map and how many are rejected,
    and the source values of attributes with allowed values that neither the
    value map nor the allowed values cover. Never raises for a bad mapping."""
    plan = mapping_compile(entity=entity, mapping=mapping, source_columns=source_columns)
    records = [r for r in sample_records if isinstance(r, Mapping)]
    coverage: dict[str, dict[str, int]] = {}
    unmapped: dict[str, list[str]] = {}
    for step in plan.steps:
        mapped = rejected = 0
        seen: dict[str, None] = {}
        for record in records:
            raw = record.get(step.source)
            try:
                step.convert(raw)
                mapped += 1
            except (ValueError, TypeError, ArithmeticError):
                rejected += 1
            if step.unmatched is not None:
                value = step.unmatched(raw)
                if value is not None and len(seen) < MAX_UNMAPPED_LISTED:
                    seen[value] = None
        coverage[step.attribute] = {"mapped": mapped, "rejected": rejected}
        if step.unmatched is not None:
            unmapped[step.attribute] = sorted(seen)
    for code in plan.constants:
        coverage[code] = {"mapped": len(records), "rejected": 0}
    warnings = list(plan.warnings)
    if source_columns is not None:
        columns = {c.name: c for c in source_columns}
        attributes = {a.code: a for a in entity.attributes}
        for code, source in plan.sources.items():
            column = columns.get(source)
            if column is None:
                continue
            rejected = coverage.get(code, {}).get("rejected", 0)
            message = _type_warning(column, attributes[code], rejected, len(records))
            if message:
                warnings.append(MappingIssue(code, "type_conversion", message))
    for code, found in unmapped.items():
        if found:
            warnings.append(
                MappingIssue(
                    code,
                    "unmapped_values",
                    f"{len(found)} source value(s) of {plan.sources[code]} are neither in the value map nor allowed: "
                    f"{', '.join(found[:10])}{' ...' if len(found) > 10 else ''}.",
                )
            )
    return MappingReport(
        ok=not plan.errors, errors=plan.errors, warnings=warnings, unmapped_values=unmapped, coverage=coverage
    )
