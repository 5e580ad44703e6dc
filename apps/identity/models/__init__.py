"""Identity's tables, one module per area: roles, identity providers and the
external identities they vouch for, the directory mirrored from Microsoft
Graph, and the access audit."""

from apps.identity.models.audit import AccessAuditEntry
from apps.identity.models.dev_provider import DevProviderAccount, DevProviderApplication
from apps.identity.models.directory import DirectoryGroup, DirectoryMembership, DirectoryUser
from apps.identity.models.directory_sync import DirectorySyncRun, DirectorySyncState, MappedMembership, RoleMapping
from apps.identity.models.providers import ExternalIdentity, IdentityProvider
from apps.identity.models.roles import Role

__all__ = [
    "AccessAuditEntry",
    "DevProviderAccount",
    "DevProviderApplication",
    "DirectoryGroup",
    "DirectoryMembership",
    "DirectorySyncRun",
    "DirectorySyncState",
    "DirectoryUser",
    "ExternalIdentity",
    "IdentityProvider",
    "MappedMembership",
    "Role",
    "RoleMapping",
]
