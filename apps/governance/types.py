"""What governance exchanges with other apps: a row policy as read, the
candidate a save checks, and a caller's row access (the compiled form of
the policies that apply to them), frozen so it hashes and keys caches."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# A policy whose `{user.<attribute>}` the principal lacks matches no rows: its predicate becomes this.
MATCHES_NOTHING = "FALSE"


class SubjectKind(StrEnum):
    ROLE = "role"
    GROUP = "group"
    USER = "user"


@dataclass(frozen=True)
class RowPolicyView:
    id: int
    name: str
    subject_kind: str
    subject_value: str
    entity: str
    predicate: str
    is_enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RowPolicyCandidate:
    """A predicate about to be saved, for the checks registered with
    `on_row_policy_check` (the calculation engine compiles it there)."""

    client_id: int
    entity: str
    predicate: str


@dataclass(frozen=True)
class EntityPolicy:
    """The rows of `entity` a caller may see: those for which any of
    `predicates` holds (OR). Placeholders stay placeholders; their values
    are in RowAccess.values and are bound as parameters when compiled."""

    entity: str
    predicates: tuple[str, ...]


@dataclass(frozen=True)
class RowAccess:
    """A caller's row-level restrictions: one EntityPolicy per restricted
    entity (an entity without one is unrestricted) and the values of the
    placeholders those predicates use. Two callers with equal RowAccess see
    the same rows and share cached answers; `fingerprint` keys them."""

    policies: tuple[EntityPolicy, ...] = ()
    values: tuple[tuple[str, str], ...] = ()

    @property
    def restricted(self) -> bool:
        return bool(self.policies)

    def policy(self, entity: str) -> EntityPolicy | None:
        return next((p for p in self.policies if p.entity == entity), None)

    def value(self, name: str) -> str | None:
        return dict(self.values).get(name)

    def fingerprint(self) -> str:
        if not self.policies:
            return ""
        body = {"policies": [[p.entity, list(p.predicates)] for p in self.policies], "values": self.values}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
