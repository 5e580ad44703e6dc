"""Who may do what in a client: the permission vocabulary, the roles every
client is seeded with, and the seam through which the identity app (which
stores each client's roles) answers "the permissions of role <code> in
client <id>" (docs/access.md).

Core cannot import identity (the layers contract), so identity registers its
role directory from `IdentityConfig.ready()`:

    access_roles_register(RoleDirectory(permissions_expression=..., role_codes=...))

`apps.core.selectors.user_clients` annotates every membership with its role's
permissions in the same query that reads the memberships: one query per
request, whatever the number of checks.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Expression


class Permission(StrEnum):
    VIEW_METRICS = "view_metrics"
    EDIT_ONTOLOGY = "edit_ontology"
    LOAD_DATA = "load_data"
    MANAGE_SOURCES = "manage_sources"
    MANAGE_ACCESS = "manage_access"
    ADMINISTER = "administer"

    @property
    def description(self) -> str:
        return PERMISSION_DESCRIPTIONS[self]


PERMISSION_DESCRIPTIONS: dict[Permission, str] = {
    Permission.VIEW_METRICS: "Read the client's metrics, definitions, dashboards and live channels.",
    Permission.EDIT_ONTOLOGY: "Create, change, revert and delete ontology definitions and KPIs.",
    Permission.LOAD_DATA: "Load rows into the client's entities (API uploads, simulation runs).",
    Permission.MANAGE_SOURCES: "Configure the client's data sources and their credentials.",
    Permission.MANAGE_ACCESS: "Manage roles, members' roles, role mappings and identity providers.",
    Permission.ADMINISTER: (
        "Operate the client: events and commands, dead letters, rollups, thresholds, webhooks, "
        "sensitive artifacts, drift repair, deleting stored data."
    ),
}

ALL_PERMISSIONS: frozenset[str] = frozenset(Permission)


@dataclass(frozen=True)
class SeededRole:
    code: str
    name: str
    description: str
    permissions: frozenset[str]


# Every client has these (identity seeds them for existing clients by
# migration and for new ones as they are created); they can be edited, not deleted.
SEEDED_ROLES: dict[str, SeededRole] = {
    "admin": SeededRole("admin", "Administrator", "Everything, including access and operations.", ALL_PERMISSIONS),
    "analyst": SeededRole(
        "analyst",
        "Analyst",
        "Reads metrics, edits the ontology, loads data and manages sources.",
        frozenset({Permission.VIEW_METRICS, Permission.EDIT_ONTOLOGY, Permission.LOAD_DATA, Permission.MANAGE_SOURCES}),
    ),
    "viewer": SeededRole("viewer", "Viewer", "Reads metrics and definitions.", frozenset({Permission.VIEW_METRICS})),
}
DEFAULT_ROLE = "viewer"


def permissions_unknown(codes: Iterable[str]) -> list[str]:
    """The codes that name no permission, in the order given."""
    return [code for code in codes if code not in ALL_PERMISSIONS]


# What a refusal says, before naming the missing permission.
_REFUSALS: dict[str, str] = {
    Permission.VIEW_METRICS: "Your role in this client may not read its metrics",
    Permission.EDIT_ONTOLOGY: "Your role in this client may read definitions but not change them",
    Permission.LOAD_DATA: "Your role in this client may read data but not load it",
    Permission.MANAGE_SOURCES: "Your role in this client may not manage its data sources",
    Permission.MANAGE_ACCESS: "Your role in this client may not manage its roles and members",
    Permission.ADMINISTER: "Only the client's administrators may do this",
}


def permission_missing_message(permission: str, lead: str | None = None) -> str:
    """`<what was refused>: it needs the permission '<permission>'.`"""
    lead = lead or _REFUSALS.get(permission, "Your role in this client does not allow this")
    return f"{lead}: it needs the permission '{permission}'."


# --- the role directory (supplied by identity) -------------------------------------------


@dataclass(frozen=True)
class RoleDirectory:
    # permissions_expression(client_field, role_field): an expression that
    # yields the array of permission codes of the role named by `role_field`
    # in the client `client_field` of the annotated queryset (NULL: no such role).
    permissions_expression: Callable[[str, str], Expression]
    # role_codes(client_id): the codes of the client's roles.
    role_codes: Callable[[int], list[str]]
    # role_hold(client_id, code): inside the caller's transaction, whether the
    # client has the role `code`, holding it against deletion until that
    # transaction ends (a membership granted the role and the role's deletion
    # never both commit). None: only role_codes is asked.
    role_hold: Callable[[int, str], bool] | None = None


_directory: RoleDirectory | None = None


def access_roles_register(directory: RoleDirectory) -> None:
    global _directory
    _directory = directory


def access_roles_directory() -> RoleDirectory | None:
    return _directory


def role_codes(*, client_id: int) -> list[str]:
    """The client's role codes (the seeded ones when no directory is registered)."""
    if _directory is None:
        return sorted(SEEDED_ROLES)
    return _directory.role_codes(client_id)


def role_held(*, client_id: int, role: str) -> bool:
    """Whether the client has the role `role`, held against deletion until the
    current transaction ends (call it inside the transaction that writes a
    membership with that role). Without a directory: the seeded roles."""
    if _directory is None:
        return role in SEEDED_ROLES
    if _directory.role_hold is None:
        return role in _directory.role_codes(client_id)
    return _directory.role_hold(client_id, role)


def permissions_of(*, role: str, annotated: Iterable[str] | None) -> frozenset[str]:
    """A membership's permissions from its annotation; without a directory,
    the seeded role's."""
    if _directory is None:
        seeded = SEEDED_ROLES.get(role)
        return seeded.permissions if seeded else frozenset()
    return frozenset(code for code in (annotated or ()) if code in ALL_PERMISSIONS)
