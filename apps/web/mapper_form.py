"""The Data Mapper page's form <-> a job's mapping (docs/sources.md, "The Data
Mapper page"). The page keeps the whole mapping in one form, one group of
inputs per attribute (names `<part>.<attribute>`; attribute codes are
lower-case letters, digits and underscores):

    source.<a>    the bound source field ("" when none; the select the drag
                  and drop and the keyboard binding set)
    value.<a>     a constant (used when no source field is bound)
    default.<a>   the value when the source field is empty
    format.<a>    strptime patterns separated by "|" (date, timestamp), tz.<a> a time zone
                  (timestamp), scale.<a> a factor (integer, decimal)
    norm.<a>      marks the normalisation inputs as shown: trim.<a>
                  (checkbox) and case.<a> (upper, lower, title or "")
    vm.<a>.from / vm.<a>.to   value-map rows, in order ("" target: unmapped)

Only what differs from the mapping's defaults is written, so a mapping saved
from the page reads like one written by hand."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

TEMPORAL = ("date", "timestamp")
NUMERIC = ("integer", "decimal")
CASES = ("upper", "lower", "title")
FORMAT_SEPARATOR = "|"  # several date patterns in one input, tried in order


def _text(post: QueryDict, name: str) -> str:
    return (post.get(name) or "").strip()


def mapping_from_post(post: QueryDict, attributes) -> dict[str, Any]:
    """The mapping the posted form describes, for the entity's attributes."""
    sections: dict[str, dict[str, Any]] = defaultdict(dict)
    for attribute in attributes:
        code = attribute.code
        source, constant = _text(post, f"source.{code}"), _text(post, f"value.{code}")
        if source:
            sections["fields"][code] = {"source": source}
        elif constant:
            sections["fields"][code] = {"value": constant}
        if default := _text(post, f"default.{code}"):
            sections["defaults"][code] = default
        if attribute.data_type in TEMPORAL and (text := _text(post, f"format.{code}")):
            patterns = [p.strip() for p in text.split(FORMAT_SEPARATOR) if p.strip()]
            sections["formats"][code] = patterns[0] if len(patterns) == 1 else patterns
        if attribute.data_type == "timestamp" and (zone := _text(post, f"tz.{code}")):
            sections["time_zones"][code] = zone
        if attribute.data_type in NUMERIC and (scale := _text(post, f"scale.{code}")):
            sections["scales"][code] = scale
        if post.get(f"norm.{code}"):
            normalise: dict[str, Any] = {}
            if not post.get(f"trim.{code}"):
                normalise["trim"] = False
            if (case := _text(post, f"case.{code}")) in CASES:
                normalise["case"] = case
            if normalise:
                sections["normalise"][code] = normalise
        pairs = zip(post.getlist(f"vm.{code}.from"), post.getlist(f"vm.{code}.to"), strict=False)
        table = {source_value: target for source_value, target in pairs if source_value != "" and target}
        if table:
            sections["value_maps"][code] = table
    order = ("fields", "value_maps", "formats", "scales", "defaults", "time_zones", "normalise")
    return {name: dict(sections[name]) for name in order if sections.get(name)}


@dataclass
class AttributeRow:
    """One attribute's slot on the page: the attribute, what the mapping gives
    it, its problems and its sample coverage."""

    code: str
    name: str
    data_type: str
    required: bool
    is_time: bool
    enum_values: tuple[str, ...]
    source: str = ""
    constant: str = ""
    default: str = ""
    format: str = ""
    zone: str = ""
    scale: str = ""
    trim: bool = True
    case: str = ""
    value_map: list[tuple[str, str]] = field(default_factory=list)  # (source value, target or "")
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coverage: dict[str, int] | None = None

    @property
    def bound(self) -> bool:
        return bool(self.source or self.constant or self.default)

    @property
    def unmapped_required(self) -> bool:
        return self.required and not self.bound

    @property
    def temporal(self) -> bool:
        return self.data_type in TEMPORAL

    @property
    def numeric(self) -> bool:
        return self.data_type in NUMERIC

    @property
    def textual(self) -> bool:
        return self.data_type == "string"


def _shown(value: Any, separator: str = ", ") -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return separator.join(map(str, value))
    return str(value)


def attribute_rows(entity, mapping: Any, report) -> list[AttributeRow]:
    """The entity's attributes as the page shows them under `mapping`, with
    the report's issues, unmapped values and coverage next to each."""
    mapping = mapping if isinstance(mapping, dict) else {}

    def section(name: str) -> dict:
        found = mapping.get(name)
        return found if isinstance(found, dict) else {}

    fields, value_maps, normalise = section("fields"), section("value_maps"), section("normalise")
    rows = []
    for attribute in entity.attributes:
        code = attribute.code
        spec = fields.get(code) if isinstance(fields.get(code), dict) else {}
        norm = normalise.get(code) if isinstance(normalise.get(code), dict) else {}
        table = value_maps.get(code) if isinstance(value_maps.get(code), dict) else {}
        pairs = [(str(k), _shown(v)) for k, v in table.items()]
        known = {k for k, _ in pairs}
        pairs += [(value, "") for value in report.unmapped_values.get(code, ()) if value not in known]
        rows.append(
            AttributeRow(
                code=code,
                name=attribute.name,
                data_type=attribute.data_type,
                required=not attribute.nullable or code == entity.time_attribute,
                is_time=code == entity.time_attribute,
                enum_values=tuple(attribute.enum_values),
                source=_shown(spec.get("source")),
                constant=_shown(spec.get("value")),
                default=_shown(section("defaults").get(code)),
                format=_shown(section("formats").get(code), separator=f" {FORMAT_SEPARATOR} "),
                zone=_shown(section("time_zones").get(code)),
                scale=_shown(section("scales").get(code)),
                trim=norm.get("trim", True) is not False,
                case=norm.get("case") or "",
                value_map=pairs,
                errors=[i.message for i in report.errors if i.attribute == code],
                warnings=[i.message for i in report.warnings if i.attribute == code],
                coverage=report.coverage.get(code),
            )
        )
    return rows


def source_tree(columns) -> list[dict]:
    """The source fields as a tree by their dotted paths: nodes
    `{"label", "path", "column" (a SourceColumn for a field, else None),
    "children"}`, in the source's order."""
    root: list[dict] = []
    for column in columns:
        level, path = root, []
        parts = column.name.split(".")
        for depth, part in enumerate(parts):
            path.append(part)
            leaf = depth == len(parts) - 1
            node = next((n for n in level if n["label"] == part and (n["column"] is None) != leaf), None)
            if node is None:
                node = {"label": part, "path": ".".join(path), "column": column if leaf else None, "children": []}
                level.append(node)
            level = node["children"]
    return root
