"""Reads of the mirrored directory, its sync runs, role mappings and the
access audit, always within one client (another client's rows are not
found: the API answers 404)."""

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from apps.core.errors import NotFound
from apps.identity.models import (
    AccessAuditEntry,
    DirectoryGroup,
    DirectorySyncRun,
    DirectoryUser,
    RoleMapping,
)


def directory_users(*, client_id: int, provider_id: int | None = None, include_removed: bool = False) -> QuerySet:
    users = DirectoryUser.objects.filter(client_id=client_id)
    if provider_id is not None:
        users = users.filter(provider_id=provider_id)
    if not include_removed:
        users = users.filter(removed_at__isnull=True)
    return users.prefetch_related("memberships__group").order_by("provider_id", "display_name", "object_id")


def directory_user_get(*, client_id: int, user_id: int) -> DirectoryUser:
    user = directory_users(client_id=client_id, include_removed=True).filter(pk=user_id).first()
    if user is None:
        raise NotFound(f"No directory user {user_id} in this client.")
    return user


def directory_groups(*, client_id: int, provider_id: int | None = None, include_removed: bool = False) -> QuerySet:
    groups = DirectoryGroup.objects.filter(client_id=client_id)
    if provider_id is not None:
        groups = groups.filter(provider_id=provider_id)
    if not include_removed:
        groups = groups.filter(removed_at__isnull=True)
    members = Count("memberships", filter=Q(memberships__user__removed_at__isnull=True))
    return groups.annotate(member_count=members).order_by("provider_id", "display_name", "object_id")


def directory_group_get(*, client_id: int, group_id: int) -> DirectoryGroup:
    group = directory_groups(client_id=client_id, include_removed=True).filter(pk=group_id).first()
    if group is None:
        raise NotFound(f"No directory group {group_id} in this client.")
    return group


def directory_group_known(*, provider_id: int, object_id: str) -> bool:
    return DirectoryGroup.objects.filter(provider_id=provider_id, object_id=object_id, removed_at__isnull=True).exists()


def sync_runs(*, client_id: int, provider_id: int | None = None) -> QuerySet:
    runs = DirectorySyncRun.objects.filter(client_id=client_id).select_related("provider", "requested_by")
    if provider_id is not None:
        runs = runs.filter(provider_id=provider_id)
    return runs.order_by("-created_at", "-id")


def sync_run_get(*, client_id: int, run_id: int) -> DirectorySyncRun:
    run = sync_runs(client_id=client_id).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"No directory sync run {run_id} in this client.")
    return run


def role_mappings(*, client_id: int, provider_id: int | None = None) -> QuerySet:
    mappings = RoleMapping.objects.filter(client_id=client_id).select_related("provider")
    if provider_id is not None:
        mappings = mappings.filter(provider_id=provider_id)
    return mappings.order_by("provider_id", "priority", "id")


def role_mapping_get(*, client_id: int, mapping_id: int) -> RoleMapping:
    mapping = role_mappings(client_id=client_id).filter(pk=mapping_id).first()
    if mapping is None:
        raise NotFound(f"No role mapping {mapping_id} in this client.")
    return mapping


def access_audit(*, client_id: int, user_id: int | None = None, since: datetime | None = None) -> QuerySet:
    entries = AccessAuditEntry.objects.filter(client_id=client_id).select_related("user", "actor")
    if user_id is not None:
        entries = entries.filter(user_id=user_id)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    return entries.order_by("-created_at", "-id")
