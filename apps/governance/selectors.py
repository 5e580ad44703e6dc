"""Reads of row policies, and the one place a caller's row access is built
(`row_access`): every read path gets its restrictions from here."""

from apps.core.errors import AppError, NotFound
from apps.governance.models import RowPolicy
from apps.governance.types import MATCHES_NOTHING, EntityPolicy, RowAccess, RowPolicyView, SubjectKind
from apps.identity.selectors.principals import principal_read
from apps.identity.types import Principal
from apps.ontology.selectors.conditions import condition_parse


def _view(policy: RowPolicy) -> RowPolicyView:
    return RowPolicyView(
        id=policy.pk,
        name=policy.name,
        subject_kind=policy.subject_kind,
        subject_value=policy.subject_value,
        entity=policy.entity_code,
        predicate=policy.predicate,
        is_enabled=policy.is_enabled,
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


def row_policies_list(*, client_id: int) -> list[RowPolicyView]:
    return [_view(p) for p in RowPolicy.objects.filter(client_id=client_id)]


def row_policy_get(*, client_id: int, policy_id: int) -> RowPolicyView:
    """One of the client's policies; another client's answers 404."""
    policy = RowPolicy.objects.filter(client_id=client_id, pk=policy_id).first()
    if policy is None:
        raise NotFound(f"No row policy {policy_id} in this client.", code="not_found")
    return _view(policy)


def _applies(policy: RowPolicy, principal: Principal) -> bool:
    if policy.subject_kind == SubjectKind.ROLE:
        return policy.subject_value == principal.role
    if policy.subject_kind == SubjectKind.GROUP:
        return policy.subject_value in principal.group_ids
    return policy.subject_value == str(principal.user_id)


def row_access_for(*, client_id: int, principal: Principal) -> RowAccess:
    """The restrictions of `principal`: per entity, the predicates of the
    enabled policies naming their role, one of their groups or them,
    combined with OR. A predicate using a placeholder the principal has no
    value for matches no rows (fail closed); so does one that no longer
    parses (it was valid when saved; the ontology may have changed)."""
    by_entity: dict[str, set[str]] = {}
    values: dict[str, str] = {}
    for policy in RowPolicy.objects.filter(client_id=client_id, is_enabled=True):
        if not _applies(policy, principal):
            continue
        predicate = policy.predicate
        try:
            placeholders = condition_parse(predicate).placeholders
        except AppError:
            predicate, placeholders = MATCHES_NOTHING, frozenset()
        missing = [name for name in placeholders if principal.attribute(name) is None]
        if missing:
            predicate = MATCHES_NOTHING
        else:
            values.update({name: principal.attribute(name) for name in placeholders})
        by_entity.setdefault(policy.entity_code, set()).add(predicate)
    policies = tuple(EntityPolicy(entity, tuple(sorted(found))) for entity, found in sorted(by_entity.items()))
    return RowAccess(policies=policies, values=tuple(sorted(values.items())) if policies else ())


def row_access(*, client_id: int, user_id: int | None, role: str | None = None) -> RowAccess:
    """The row access of a signed-in user in a client (their role given when
    the request resolved it already). No user (a system computation) or no
    membership: unrestricted only for the system; a user who is not a
    member sees nothing, though tenancy refuses them before this."""
    if user_id is None or not RowPolicy.objects.filter(client_id=client_id, is_enabled=True).exists():
        return RowAccess()
    principal = principal_read(client_id=client_id, user_id=user_id, role=role)
    if principal is None:
        raise AppError("You are not a member of this client.", code="permission_denied", status_code=403)
    return row_access_for(client_id=client_id, principal=principal)
