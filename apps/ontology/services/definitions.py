"""The descriptive definitions around entities and metrics: value chains,
actors, strategies, use cases, data sources. They link to entities and
metrics by code; unknown codes are refused by name."""

from dataclasses import dataclass, field

from croniter import croniter
from django.db import models, transaction

from apps.core.errors import AppError, Conflict
from apps.ontology import models as m
from apps.ontology.identifiers import code_validate
from apps.ontology.versioning import revision

# Linked definition fields: name -> (model, many?)
LINKS = {
    "entities": (m.EntityDefinition, True),
    "metrics": (m.MetricDefinition, True),
    "value_chain": (m.ValueChainPatternDefinition, False),
    "strategy": (m.AnalyticsStrategyDefinition, False),
}
SECRET_HINTS = ("password", "secret", "token", "apikey", "api_key", "credential", "private_key")


@dataclass(frozen=True)
class DefinitionInput:
    code: str
    name: str
    description: str = ""
    fields: dict = field(default_factory=dict)  # plain fields of the model
    links: dict = field(default_factory=dict)  # link name -> code or list of codes


def _choices_check(model: type[models.Model], name: str, value) -> None:
    choices = model._meta.get_field(name).choices
    if choices and value not in {c[0] for c in choices}:
        allowed = ", ".join(c[0] for c in choices)
        raise AppError(
            f"Unknown {name} {value!r}; use one of {allowed}.", code=f"invalid_{name}", details={name: value}
        )


def _string_list(name: str, value) -> list[str]:
    if not isinstance(value, list) or any(not isinstance(v, str) or not v.strip() for v in value):
        raise AppError(f"{name} must be a list of non-empty strings.", code="invalid_list", details={"field": name})
    return value


def _fields_validate(model: type[models.Model], fields: dict) -> dict:
    clean = {}
    for name, value in fields.items():
        if name in ("stages", "objectives", "responsibilities"):
            clean[name] = _string_list(name, value)
        elif name == "settings":
            if not isinstance(value, dict):
                raise AppError("settings must be an object.", code="invalid_settings")
            secret = [k for k in value if any(h in k.lower().replace("-", "_") for h in SECRET_HINTS)]
            if secret:
                raise AppError(
                    f"settings must not hold credentials ({', '.join(secret)}): they belong to an encrypted "
                    "connection profile.",
                    code="credentials_not_allowed",
                    details={"keys": secret},
                )
            clean[name] = value
        elif name == "schedule":
            if value and not croniter.is_valid(value):
                raise AppError(
                    f"schedule {value!r} is not a valid cron expression (e.g. '0 2 * * *').",
                    code="invalid_schedule",
                    details={"schedule": value},
                )
            clean[name] = value or ""
        else:
            _choices_check(model, name, value)
            clean[name] = value if value is not None else ""
    return clean


def _links_resolve(client_id: int, links: dict) -> tuple[dict, dict]:
    singles, many = {}, {}
    for name, value in links.items():
        target, is_many = LINKS[name]
        codes = value if is_many else ([value] if value else [])
        if is_many and not isinstance(value, list):
            raise AppError(f"{name} must be a list of codes.", code="invalid_list", details={"field": name})
        found = {o.code: o for o in target.objects.filter(client_id=client_id, code__in=codes)}
        missing = [c for c in codes if c not in found]
        if missing:
            raise AppError(
                f"Unknown {target._meta.verbose_name} {', '.join(map(repr, missing))} in {name}.",
                code="unknown_reference",
                details={name: missing},
            )
        if is_many:
            many[name] = [found[c] for c in codes]
        else:
            singles[name] = found[codes[0]] if codes else None
    return singles, many


def _save(obj, client_id: int, data: DefinitionInput) -> None:
    if not data.name or not str(data.name).strip():
        raise AppError("A name is required.", code="invalid_name")
    fields = _fields_validate(type(obj), data.fields)
    singles, many = _links_resolve(client_id, data.links)
    obj.name = data.name
    obj.description = data.description or ""
    for name, value in {**fields, **singles}.items():
        setattr(obj, name, value)
    obj.save()
    for name, values in many.items():
        getattr(obj, name).set(values)


@transaction.atomic
def definition_create(*, model: type[models.Model], client_id: int, data: DefinitionInput, user=None):
    code_validate(data.code, what=model._meta.verbose_name)
    if model.objects.filter(client_id=client_id, code=data.code).exists():
        raise Conflict(f"A {model._meta.verbose_name} with code {data.code!r} already exists.", code="duplicate_code")
    with revision(user=user, comment=f"Created {model._meta.verbose_name} {data.code}"):
        obj = model(client_id=client_id, code=data.code)
        _save(obj, client_id, data)
    return obj


@transaction.atomic
def definition_update(*, obj, data: DefinitionInput, user=None):
    if data.code != obj.code:
        raise AppError("A definition's code cannot change.", code="immutable_field")
    with revision(user=user, comment=f"Changed {obj._meta.verbose_name} {obj.code}"):
        _save(obj, obj.client_id, data)
    return obj


@transaction.atomic
def definition_delete(*, obj, user=None) -> None:
    with revision(user=user, comment=f"Deleted {obj._meta.verbose_name} {obj.code}"):
        obj.delete()
