"""The development provider's directory: two Azure-AD-like tenants with users
and groups under fixed GUIDs, so tests, `make run`'s demo data and the Graph
stand-in all speak of the same people (docs/identity.md, "The development
provider").

Everything here is fixed data (no table): a user's `oid` and a group's id are
what Azure AD calls the object id, the same in tokens and in Graph. The same
`oid` deliberately appears in both tenants (Adele Vance): two tenants, two
people, as Azure AD keys users on (tid, oid). Megan Bowen has no mail (her
tokens carry no `email` claim); Lee Gu is in more groups than a token holds
(`AE_DEV_IDP_GROUPS_OVERAGE_LIMIT`, 200 like Azure AD), so her tokens carry
the overage form instead of `groups`.

A user's password on the provider's sign-in page is `<login>-dev` (adele-dev,
...): published on purpose, the provider is off (not even routed) in
production settings.
"""

import uuid
from dataclasses import dataclass, field
from functools import cache

from django.utils.crypto import constant_time_compare


@dataclass(frozen=True)
class DevTenant:
    tenant_id: str  # the `tid` claim
    name: str
    domain: str  # the mail / UPN domain of its users


@dataclass(frozen=True)
class DevGroup:
    tenant_id: str
    object_id: str  # the group's GUID: an entry of the `groups` claim
    display_name: str
    description: str = ""


@dataclass(frozen=True)
class DevUser:
    tenant_id: str
    object_id: str  # the `oid` claim (= Graph's user id)
    user_principal_name: str  # the `preferred_username` claim
    display_name: str  # the `name` claim
    given_name: str
    surname: str
    password: str
    mail: str | None = None  # the `email` claim when set
    roles: tuple[str, ...] = ()  # app roles assigned to the user: the `roles` claim
    group_ids: tuple[str, ...] = field(default=(), repr=False)


CONTOSO = DevTenant(
    tenant_id="820e636f-7e99-4f5a-8d8e-3ae4fe5f9cbc", name="Contoso (development)", domain="contoso.example"
)
FABRIKAM = DevTenant(
    tenant_id="dafce383-5731-4b07-89d8-d82be48e7107", name="Fabrikam (development)", domain="fabrikam.example"
)
TENANTS = (CONTOSO, FABRIKAM)

# The app registration of the demo client's development provider (its `aud`).
DEMO_APPLICATION_ID = "a0824c49-dcf3-4f1e-85b3-9bf9c83652fe"


def _group(tenant: DevTenant, object_id: str, display_name: str, description: str = "") -> DevGroup:
    return DevGroup(tenant.tenant_id, object_id, display_name, description)


ANALYTICS_ADMINS = _group(
    CONTOSO, "81372bec-da63-4590-882b-4d642be03fe8", "Analytics Admins", "Administer the analytics platform"
)
ANALYTICS_ANALYSTS = _group(
    CONTOSO, "e660d4b6-e302-47f5-ab6b-9c22ffecfc8b", "Analytics Analysts", "Build metrics and load data"
)
ANALYTICS_VIEWERS = _group(CONTOSO, "9659c857-96b3-4c75-aba3-c401f3eb32fa", "Analytics Viewers", "Read dashboards")
EU_SALES = _group(CONTOSO, "9659b719-f935-44db-9942-32254920b9ff", "EU Sales", "Sales people of the EU region")
FABRIKAM_ANALYSTS = _group(FABRIKAM, "e6743a9b-3ebe-4d95-820e-2e4e0b407aa1", "Fabrikam Analysts")
FABRIKAM_VIEWERS = _group(FABRIKAM, "c01df7f1-93a1-42b6-848a-51fd74496fb8", "Fabrikam Viewers")

# Project teams, enough of them that their one common member overflows a token.
PROJECT_TEAM_COUNT = 201
_PROJECT_NAMESPACE = uuid.UUID("a2e5d5ea-a55f-448f-b009-e3b462c432b3")
PROJECT_TEAMS = tuple(
    _group(CONTOSO, str(uuid.uuid5(_PROJECT_NAMESPACE, f"project-team-{n:03d}")), f"Project team {n:03d}")
    for n in range(1, PROJECT_TEAM_COUNT + 1)
)

GROUPS = (
    ANALYTICS_ADMINS,
    ANALYTICS_ANALYSTS,
    ANALYTICS_VIEWERS,
    EU_SALES,
    *PROJECT_TEAMS,
    FABRIKAM_ANALYSTS,
    FABRIKAM_VIEWERS,
)

# The oid Adele Vance has in both tenants.
ADELE_OID = "a76e1b8d-999e-48d2-9cb3-3c6aff3b2269"


def _user(tenant: DevTenant, object_id: str, login: str, given_name: str, surname: str, **attributes) -> DevUser:
    upn = f"{login}@{tenant.domain}"
    attributes.setdefault("mail", upn)
    return DevUser(
        tenant_id=tenant.tenant_id,
        object_id=object_id,
        user_principal_name=upn,
        display_name=attributes.pop("display_name", f"{given_name} {surname}"),
        given_name=given_name,
        surname=surname,
        password=f"{login}-dev",
        **attributes,
    )


ADELE = _user(
    CONTOSO,
    ADELE_OID,
    "adele",
    "Adele",
    "Vance",
    roles=("Analytics.Admin",),
    group_ids=(ANALYTICS_ADMINS.object_id, EU_SALES.object_id),
)
ALEX = _user(
    CONTOSO,
    "45dd07cc-69c5-4bcc-bb7d-9e8f44784887",
    "alex",
    "Alex",
    "Wilber",
    roles=("Analytics.Analyst",),
    group_ids=(ANALYTICS_ANALYSTS.object_id, EU_SALES.object_id),
)
MEGAN = _user(  # no mailbox: no `email` claim; no app role: no `roles` claim
    CONTOSO,
    "32d813e9-667e-485f-b1fe-05f1712347dd",
    "megan",
    "Megan",
    "Bowen",
    mail=None,
    group_ids=(ANALYTICS_VIEWERS.object_id,),
)
LEE = _user(  # in every project team: more groups than a token carries
    CONTOSO,
    "0f9a7883-b8f5-435b-b9ea-18eaf37c366a",
    "lee",
    "Lee",
    "Gu",
    roles=("Analytics.Analyst",),
    group_ids=(ANALYTICS_ANALYSTS.object_id, *(team.object_id for team in PROJECT_TEAMS)),
)
ADELE_FABRIKAM = _user(  # the same oid as Contoso's Adele: another person
    FABRIKAM,
    ADELE_OID,
    "adele",
    "Adele",
    "Vance",
    display_name="Adele Vance (Fabrikam)",
    roles=("Analytics.Analyst",),
    group_ids=(FABRIKAM_ANALYSTS.object_id,),
)
DIEGO = _user(
    FABRIKAM,
    "f0ddb14b-def3-4edc-9705-17566ba08fcd",
    "diego",
    "Diego",
    "Siciliani",
    group_ids=(FABRIKAM_VIEWERS.object_id,),
)

USERS = (ADELE, ALEX, MEGAN, LEE, ADELE_FABRIKAM, DIEGO)

# Tenant segments Azure AD accepts besides a tenant GUID: any work account.
MULTI_TENANT_SEGMENTS = ("organizations", "common")


def tenant_get(tenant_id: str) -> DevTenant | None:
    return next((tenant for tenant in TENANTS if tenant.tenant_id == tenant_id.lower()), None)


def tenant_segment_valid(segment: str) -> bool:
    """A path segment the provider answers under: a dev tenant's GUID, `organizations` or `common`."""
    return segment in MULTI_TENANT_SEGMENTS or tenant_get(segment) is not None


def users_for_segment(segment: str) -> tuple[DevUser, ...]:
    """Who may sign in under `/idp/{segment}/`: a tenant's users, or everyone's for a multi-tenant segment."""
    if segment in MULTI_TENANT_SEGMENTS:
        return USERS
    return tuple(user for user in USERS if user.tenant_id == segment.lower())


def user_get(tenant_id: str, object_id: str) -> DevUser | None:
    return _users_by_key().get((tenant_id.lower(), object_id.lower()))


def user_authenticate(*, segment: str, tenant_id: str, object_id: str, password: str) -> DevUser | None:
    """The user of (`tenant_id`, `object_id`) when the password is theirs and they may sign in under `segment`."""
    user = user_get(tenant_id, object_id)
    if user is None or user not in users_for_segment(segment):
        return None
    return user if constant_time_compare(password, user.password) else None


def groups_of_tenant(tenant_id: str) -> tuple[DevGroup, ...]:
    return tuple(group for group in GROUPS if group.tenant_id == tenant_id.lower())


def group_members(group: DevGroup) -> tuple[DevUser, ...]:
    return tuple(user for user in USERS if user.tenant_id == group.tenant_id and group.object_id in user.group_ids)


@cache
def _users_by_key() -> dict[tuple[str, str], DevUser]:
    return {(user.tenant_id, user.object_id): user for user in USERS}
