"""Writes of row policies. Every save checks the predicate: it parses here
(the formula language's filter syntax), and the checks registered with
`on_row_policy_check` (the calculation engine's compile against the
client's ontology: paths exist, types compare) run before it is stored, so
a policy that would not compile is a 400 naming the problem, never a
stored rule that fails later."""

from collections.abc import Callable

from django.db import IntegrityError, transaction

from apps.core.errors import AppError, Conflict, NotFound
from apps.governance.models import RowPolicy
from apps.governance.selectors import _view
from apps.governance.types import RowPolicyCandidate, RowPolicyView, SubjectKind
from apps.ontology.selectors.conditions import condition_parse

_checks: list[Callable[[RowPolicyCandidate], None]] = []

FIELDS = ("name", "subject_kind", "subject_value", "entity", "predicate", "is_enabled")


def on_row_policy_check(callback: Callable[[RowPolicyCandidate], None]) -> Callable[[RowPolicyCandidate], None]:
    """Register a check run on every predicate before it is saved (it raises AppError)."""
    if callback not in _checks:
        _checks.append(callback)
    return callback


def row_policy_check(*, client_id: int, entity: str, predicate: str) -> None:
    """Raise AppError (400) naming what is wrong with `predicate` on `entity`."""
    if not isinstance(predicate, str) or not predicate.strip():
        raise AppError("A row policy needs a predicate, e.g. region = 'EU'.", code="invalid_predicate")
    try:
        condition_parse(predicate)
        candidate = RowPolicyCandidate(client_id=client_id, entity=entity, predicate=predicate)
        for check in list(_checks):
            check(candidate)
    except AppError as exc:
        message = exc.message.replace("a complete formula", "a complete predicate").replace(
            "The formula ends", "The predicate ends"
        )
        raise AppError(
            f"The predicate does not compile: {message}",
            code="invalid_predicate",
            details={**exc.details, "reason": exc.code},
        ) from exc


def _clean(fields: dict) -> dict:
    kind = fields.get("subject_kind")
    if kind not in SubjectKind.__members__.values():
        raise AppError(
            f"Unknown subject kind {kind!r}; use one of: role, group, user.",
            code="invalid_subject",
            details={"subject_kind": str(kind)},
        )
    value = str(fields.get("subject_value") or "").strip()
    if not value:
        raise AppError("A row policy needs a subject value.", code="invalid_subject")
    if kind == SubjectKind.USER and not value.isdigit():
        raise AppError(
            f"A user subject is the user's id; {value!r} is not one.", code="invalid_subject", details={"value": value}
        )
    name = str(fields.get("name") or "").strip()
    if not name:
        raise AppError("A row policy needs a name.", code="invalid_name")
    return {**fields, "name": name, "subject_value": value}


def row_policy_create(*, client_id: int, fields: dict) -> RowPolicyView:
    fields = _clean(fields)
    row_policy_check(client_id=client_id, entity=fields["entity"], predicate=fields["predicate"])
    try:
        with transaction.atomic():
            policy = RowPolicy.objects.create(
                client_id=client_id,
                name=fields["name"],
                subject_kind=fields["subject_kind"],
                subject_value=fields["subject_value"],
                entity_code=fields["entity"],
                predicate=fields["predicate"],
                is_enabled=fields.get("is_enabled", True),
            )
    except IntegrityError as exc:
        raise Conflict(f"A row policy named {fields['name']!r} exists.", code="duplicate_name") from exc
    return _view(policy)


def row_policy_update(*, client_id: int, policy_id: int, changes: dict) -> RowPolicyView:
    policy = RowPolicy.objects.filter(client_id=client_id, pk=policy_id).first()
    if policy is None:
        raise NotFound(f"No row policy {policy_id} in this client.")
    current = {
        "name": policy.name,
        "subject_kind": policy.subject_kind,
        "subject_value": policy.subject_value,
        "entity": policy.entity_code,
        "predicate": policy.predicate,
        "is_enabled": policy.is_enabled,
    }
    fields = _clean({**current, **{k: v for k, v in changes.items() if k in FIELDS}})
    if fields["entity"] != current["entity"] or fields["predicate"] != current["predicate"]:
        row_policy_check(client_id=client_id, entity=fields["entity"], predicate=fields["predicate"])
    policy.name = fields["name"]
    policy.subject_kind = fields["subject_kind"]
    policy.subject_value = fields["subject_value"]
    policy.entity_code = fields["entity"]
    policy.predicate = fields["predicate"]
    policy.is_enabled = fields["is_enabled"]
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError as exc:
        raise Conflict(f"A row policy named {fields['name']!r} exists.", code="duplicate_name") from exc
    return _view(policy)


def row_policy_delete(*, client_id: int, policy_id: int) -> None:
    deleted, _ = RowPolicy.objects.filter(client_id=client_id, pk=policy_id).delete()
    if not deleted:
        raise NotFound(f"No row policy {policy_id} in this client.")
