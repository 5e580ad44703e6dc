"""The dataclasses identity exchanges with other apps."""

from dataclasses import dataclass, field
from datetime import datetime

from apps.core.errors import AppError


@dataclass(frozen=True)
class RoleInfo:
    """A client's role: a named set of permissions (apps.core.access.Permission)."""

    id: int
    client_id: int
    code: str
    name: str
    description: str
    permissions: tuple[str, ...]  # sorted
    is_seeded: bool
    member_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MemberInfo:
    """A member of a client and the code of their role there."""

    membership_id: int
    user_id: int
    username: str
    email: str
    role: str
    is_default: bool


@dataclass(frozen=True)
class MemberAccess:
    """A member as the access console lists them: their role (code and name)
    and who manages it: role mapping (`mapped_by`: the identity provider
    whose directory groups decide it) or an administrator by hand ("")."""

    membership_id: int
    user_id: int
    username: str
    email: str
    role: str
    role_name: str
    is_default: bool
    mapped_by: str = ""

    @property
    def is_mapped(self) -> bool:
        return bool(self.mapped_by)


@dataclass(frozen=True)
class SignInResult:
    """What a completed provider sign-in hands on (apps.identity.services.sign_in);
    the role its token's groups map to is applied by then (services.role_mapping)."""

    user_id: int
    username: str
    provider_id: int
    client_id: int
    tenant_id: str
    object_id: str
    external_identity_id: int
    created: bool


class SignInRefused(AppError):
    """A provider sign-in (or a provider's bearer token) that is refused, with
    the message shown to the person: a forged or expired token, the wrong
    audience, issuer or tenant, a nonce that does not match or was used."""

    status_code = 401
    code = "sign_in_refused"


class ProviderUnavailable(AppError):
    """The identity provider's discovery document, keys or token endpoint did
    not answer usably."""

    status_code = 503
    code = "identity_provider_unavailable"
    retry_after = 30


@dataclass(frozen=True)
class DevProviderSeeded:
    """One identity provider `manage.py idp_seed` made ready against the development provider."""

    provider_name: str
    tenant_id: str
    application_id: str
    authority: str
    redirect_uris: tuple[str, ...]
    created_provider: bool
    created_application: bool
    secret_issued: bool  # a new client secret was issued (and stored encrypted on the provider)


@dataclass(frozen=True)
class Principal:
    """Who asks, as row policies see them (apps/identity/selectors/principals.py):
    the user, their role in the client, the directory groups they belong to
    (Graph object ids, removed groups and memberships of removed users left
    out) and the attributes `{user.<attribute>}` placeholders read: `email`,
    `username`, then the directory user's attributes (department, country, ...)."""

    user_id: int
    username: str
    role: str
    group_ids: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def attribute(self, name: str) -> str | None:
        return dict(self.attributes).get(name)
