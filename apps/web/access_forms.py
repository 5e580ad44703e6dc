"""The access console's forms: what the browser posts -> the identity and
governance services' inputs, and the services' AppErrors -> the field each
one concerns (the checks stay in the services, which the API runs too).

A form keeps what was typed, so a refused form comes back as the user left
it, with the service's message next to the field (`errors[field]`) or above
the form (`errors["form"]`). A client secret is never kept: it is write-only."""

import re
from dataclasses import dataclass, field

from django.http import QueryDict

from apps.core.access import DEFAULT_ROLE, PERMISSION_DESCRIPTIONS, Permission
from apps.core.errors import AppError

NON_FIELD = "form"
PERMISSIONS = [(p.value, p.value.replace("_", " ").capitalize(), PERMISSION_DESCRIPTIONS[p]) for p in Permission]

# Error codes of the services that concern one field whatever their details say.
_CODE_FIELDS = {
    "invalid_code": "code",
    "role_exists": "code",
    "unknown_permission": "permissions",
    "invalid_name": "name",
    "duplicate_name": "name",
    "name_taken": "name",
    "tenant_taken": "tenant_id",
    "domain_taken": "allowed_domains",
    "invalid_subject": "subject_value",
}


def errors_place(exc: AppError, fields: tuple[str, ...]) -> dict[str, str]:
    """Where the service's refusal is shown: the field its details or code
    name (first one found), else above the form."""
    details = exc.details if isinstance(exc.details, dict) else {}
    for name in fields:
        value = details.get(name)
        if isinstance(value, list) and value:
            return {name: str(value[0])}
    if exc.code == "invalid_predicate":
        # An unknown entity is the entity field's problem; anything else the predicate's.
        if "entity" in details and "entity" in fields and "Unknown entity" in exc.message:
            return {"entity": exc.message}
        return {"predicate": exc.message}
    if exc.code == "invalid_subject" and "subject kind" in exc.message:
        return {"subject_kind": exc.message}
    target = _CODE_FIELDS.get(exc.code)
    if target in fields:
        return {target: exc.message}
    return {NON_FIELD: exc.message}


def _text(data: QueryDict, name: str) -> str:
    return (data.get(name) or "").strip()


def _int(data: QueryDict, name: str, errors: dict[str, str], default: int | None = None) -> int | None:
    raw = _text(data, name)
    if not raw:
        return default
    if not raw.isdigit():
        errors[name] = f"{raw!r} is not a whole number."
        return default
    return int(raw)


# --- roles ----------------------------------------------------------------------------


@dataclass
class RoleForm:
    code: str = ""
    name: str = ""
    description: str = ""
    permissions: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    FIELDS = ("code", "name", "description", "permissions")


def role_form_parse(data: QueryDict, *, code: str = "") -> RoleForm:
    return RoleForm(
        code=code or _text(data, "code"),
        name=_text(data, "name"),
        description=_text(data, "description"),
        permissions=data.getlist("permissions"),
    )


def role_form_from(role) -> RoleForm:
    return RoleForm(code=role.code, name=role.name, description=role.description, permissions=list(role.permissions))


# --- role mappings --------------------------------------------------------------------


@dataclass
class MappingForm:
    provider: int | None = None
    group_object_id: str = ""
    role_code: str = DEFAULT_ROLE  # a new rule starts at the least a member gets
    priority: int = 100
    description: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    FIELDS = ("provider", "group_object_id", "role_code", "priority", "description")

    def to_input(self) -> dict:
        return {
            "group_object_id": self.group_object_id,
            "role_code": self.role_code,
            "priority": self.priority,
            "description": self.description,
        }


def mapping_form_parse(data: QueryDict) -> MappingForm:
    errors: dict[str, str] = {}
    form = MappingForm(
        provider=_int(data, "provider", errors),
        group_object_id=_text(data, "group_object_id"),
        role_code=_text(data, "role_code"),
        priority=_int(data, "priority", errors, default=100),
        description=_text(data, "description")[:200],
    )
    if form.provider is None and "provider" not in errors:
        errors["provider"] = "Pick the identity provider whose directory the group is in."
    if not form.group_object_id:
        errors["group_object_id"] = "The group's object id is required."
    form.errors = errors
    return form


def mapping_form_from(mapping) -> MappingForm:
    return MappingForm(
        provider=mapping.provider_id,
        group_object_id=mapping.group_object_id,
        role_code=mapping.role_code,
        priority=mapping.priority,
        description=mapping.description,
    )


# --- row policies ---------------------------------------------------------------------


@dataclass
class PolicyForm:
    name: str = ""
    subject_kind: str = "role"
    subject_value: str = ""
    entity: str = ""
    predicate: str = ""
    is_enabled: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    FIELDS = ("name", "subject_kind", "subject_value", "entity", "predicate")

    def to_input(self) -> dict:
        return {
            "name": self.name,
            "subject_kind": self.subject_kind,
            "subject_value": self.subject_value,
            "entity": self.entity,
            "predicate": self.predicate,
            "is_enabled": self.is_enabled,
        }


def policy_form_parse(data: QueryDict) -> PolicyForm:
    return PolicyForm(
        name=_text(data, "name"),
        subject_kind=_text(data, "subject_kind"),
        subject_value=_text(data, "subject_value"),
        entity=_text(data, "entity"),
        predicate=(data.get("predicate") or "").strip(),
        is_enabled=data.get("is_enabled") == "on",
    )


def policy_form_from(policy) -> PolicyForm:
    return PolicyForm(
        name=policy.name,
        subject_kind=policy.subject_kind,
        subject_value=policy.subject_value,
        entity=policy.entity,
        predicate=policy.predicate,
        is_enabled=policy.is_enabled,
    )


# --- identity providers ---------------------------------------------------------------

_DOMAIN_SPLIT = re.compile(r"[\s,;]+")


@dataclass
class ProviderForm:
    """No client secret here: the field is always rendered empty (blank keeps
    the stored secret; `remove_secret` removes it)."""

    name: str = ""
    kind: str = "azure_ad"
    authority: str = ""
    tenant_id: str = ""
    application_id: str = ""
    allowed_domains: str = ""
    graph_base_url: str = ""
    is_enabled: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    FIELDS = (
        "name",
        "kind",
        "authority",
        "tenant_id",
        "application_id",
        "allowed_domains",
        "graph_base_url",
        "client_secret",
    )

    def to_input(self) -> dict:
        """The service's fields; a blank authority or Graph URL is left out
        (Azure's public endpoints on create, the stored ones on update)."""
        values = {
            "name": self.name,
            "kind": self.kind,
            "tenant_id": self.tenant_id,
            "application_id": self.application_id,
            "allowed_domains": [d for d in _DOMAIN_SPLIT.split(self.allowed_domains) if d],
            "is_enabled": self.is_enabled,
        }
        for name in ("authority", "graph_base_url"):
            if getattr(self, name):
                values[name] = getattr(self, name)
        return values


def provider_form_parse(data: QueryDict) -> tuple[ProviderForm, str | None]:
    """The form and the secret to store: the typed one, "" to remove the
    stored one, None to keep it."""
    form = ProviderForm(
        name=_text(data, "name"),
        kind=_text(data, "kind") or "azure_ad",
        authority=_text(data, "authority"),
        tenant_id=_text(data, "tenant_id"),
        application_id=_text(data, "application_id"),
        allowed_domains=_text(data, "allowed_domains"),
        graph_base_url=_text(data, "graph_base_url"),
        is_enabled=data.get("is_enabled") == "on",
    )
    secret = data.get("client_secret") or ""
    if data.get("remove_secret") == "on":
        return form, ""
    return form, secret or None


def provider_form_from(provider) -> ProviderForm:
    return ProviderForm(
        name=provider.name,
        kind=provider.kind,
        authority=provider.authority,
        tenant_id=provider.tenant_id,
        application_id=provider.application_id,
        allowed_domains=", ".join(provider.allowed_domains),
        graph_base_url=provider.graph_base_url,
        is_enabled=provider.is_enabled,
    )
