"""The ontology studio's forms: HTML form fields -> the ontology services'
inputs, and the services' AppErrors -> the form field each one concerns.

The checks themselves stay in apps/ontology/services (the API runs the same
ones); this module only parses what the browser posts and decides where an
error is shown, so the editor and the API can never disagree on what is valid."""

import re
from dataclasses import dataclass, field

from django.http import QueryDict

from apps.core.errors import AppError
from apps.ontology.services import entities as entity_services
from apps.ontology.services import relationships as relationship_services
from apps.ontology.types.definitions import EntityView

DATA_TYPES = list(entity_services.DataType.values)
TIME_TYPES = sorted(entity_services.TIME_TYPES)
ENTITY_KINDS = list(entity_services.EntityDefinition.Kind.choices)
RELATIONSHIP_KINDS = [
    (value, value.replace("_", " ").capitalize()) for value in relationship_services.RelationshipDefinition.Kind.values
]
NON_FIELD = "form"
_ROW_FIELD = re.compile(r"^attr-(\d+)-code$")


@dataclass
class AttributeRow:
    """One attribute row of the editor, as typed (values are kept verbatim so a
    refused form comes back exactly as the user left it)."""

    code: str = ""
    name: str = ""
    description: str = ""
    data_type: str = "string"
    required: bool = False
    enum_values: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def enum_list(self) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.enum_values.split(",") if v.strip())


@dataclass
class EntityForm:
    code: str = ""
    name: str = ""
    description: str = ""
    kind: str = "time_series"
    time_attribute: str = ""
    rows: list[AttributeRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def to_input(self) -> entity_services.EntityInput:
        return entity_services.EntityInput(
            code=self.code,
            name=self.name,
            description=self.description,
            kind=self.kind,
            time_attribute=self.time_attribute if self.kind == "time_series" else "",
            attributes=[
                entity_services.AttributeInput(
                    code=row.code,
                    data_type=row.data_type,
                    nullable=not row.required,
                    enum_values=row.enum_list,
                    name=row.name,
                    description=row.description,
                )
                for row in self.rows
            ],
        )


def entity_form_blank() -> EntityForm:
    """A new time series starts with its time attribute row, the one it cannot do without."""
    return EntityForm(
        time_attribute="snapshot_date", rows=[AttributeRow(code="snapshot_date", data_type="date", required=True)]
    )


def entity_form_from(entity: EntityView) -> EntityForm:
    """The editor prefilled with a saved entity (from apps.ontology.selectors)."""
    return EntityForm(
        code=entity.code,
        name=entity.name,
        description=entity.description,
        kind=entity.kind,
        time_attribute=entity.time_attribute,
        rows=[
            AttributeRow(
                code=a.code,
                name=a.name,
                description=a.description,
                data_type=a.data_type,
                required=not a.nullable,
                enum_values=", ".join(a.enum_values or []),
            )
            for a in entity.attributes
        ],
    )


def entity_form_parse(post: QueryDict, *, entity: EntityView | None = None) -> EntityForm:
    """Rows are posted as `attr-<n>-<field>`; `n` only orders them (rows added
    and removed in the browser leave gaps). On an existing entity the code,
    kind and time attribute are fixed, so they are taken from it, not the post."""
    indexes = sorted(int(m.group(1)) for key in post if (m := _ROW_FIELD.match(key)))
    rows = [
        AttributeRow(
            code=post.get(f"attr-{i}-code", "").strip(),
            name=post.get(f"attr-{i}-name", "").strip(),
            description=post.get(f"attr-{i}-description", "").strip(),
            data_type=post.get(f"attr-{i}-data_type", "").strip(),
            required=post.get(f"attr-{i}-required") in ("on", "true", "1"),
            enum_values=post.get(f"attr-{i}-enum_values", "").strip(),
        )
        for i in indexes
    ]
    form = EntityForm(
        code=post.get("code", "").strip(),
        name=post.get("name", "").strip(),
        description=post.get("description", "").strip(),
        kind=post.get("kind", "").strip(),
        time_attribute=post.get("time_attribute", "").strip(),
        rows=rows,
    )
    if entity is not None:
        form.code, form.kind, form.time_attribute = entity.code, entity.kind, entity.time_attribute
    return form


def _row_index(rows: list[AttributeRow], code, *, last: bool = False) -> int | None:
    found = [i for i, row in enumerate(rows) if row.code == code]
    if not found:
        return None
    return found[-1] if last else found[0]


def entity_errors_place(form: EntityForm, exc: AppError) -> None:
    """Put `exc` next to the field it is about (from its code and details),
    or above the form when it concerns the whole entity."""
    details, rows = exc.details or {}, form.rows
    attribute = details.get("attribute")
    row_field = {
        "duplicate_code": "code",
        "invalid_data_type": "data_type",
        "invalid_enum": "enum_values",
        "unsafe_type_change": "data_type",
    }.get(exc.code)
    if attribute is not None and row_field:
        index = _row_index(rows, attribute, last=exc.code == "duplicate_code")
        if index is not None:
            rows[index].errors[row_field] = exc.message
            return
    if exc.code in ("invalid_code", "reserved_code"):
        if exc.message.startswith("The attribute"):
            index = _row_index(rows, details.get("code"))
            if index is not None:
                rows[index].errors["code"] = exc.message
                return
        form.errors["code"] = exc.message
        return
    where = {
        "duplicate_code": "code",  # another entity has this code (409)
        "invalid_name": "name",
        "invalid_kind": "kind",
        "time_attribute_required": "time_attribute",
        "invalid_time_attribute": "time_attribute",
        "invalid_attributes": "attributes",
        "in_use": "attributes",
    }.get(exc.code, NON_FIELD)
    form.errors[where] = exc.message


@dataclass
class RelationshipForm:
    code: str = ""
    name: str = ""
    source_entity: str = ""
    source_attribute: str = ""
    target_entity: str = ""
    target_attribute: str = ""
    kind: str = "many_to_one"
    errors: dict[str, str] = field(default_factory=dict)

    def to_input(self) -> relationship_services.RelationshipInput:
        return relationship_services.RelationshipInput(
            code=self.code,
            name=self.name,
            source_entity=self.source_entity,
            target_entity=self.target_entity,
            kind=self.kind,
            source_attribute=self.source_attribute,
            target_attribute=self.target_attribute,
        )


def relationship_form_parse(post: QueryDict) -> RelationshipForm:
    names = ("code", "name", "source_entity", "source_attribute", "target_entity", "target_attribute", "kind")
    return RelationshipForm(**{name: post.get(name, "").strip() for name in names})


def relationship_errors_place(form: RelationshipForm, exc: AppError) -> None:
    details = exc.details or {}
    for key in ("source_attribute", "target_attribute", "source_entity", "target_entity"):
        if key in details:
            form.errors[key] = exc.message
            return
    where = {
        "invalid_code": "code",
        "reserved_code": "code",
        "duplicate_code": "code",
        "invalid_kind": "kind",
        "type_mismatch": "target_attribute",
    }.get(exc.code, NON_FIELD)
    form.errors[where] = exc.message
