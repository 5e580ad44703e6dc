"""Directory sync bookkeeping and role mapping: where each provider's Graph
delta rounds stand, every sync run with its progress and counts, the rules
that map a directory group to a client role, and the memberships those rules
granted (so mapping never touches a membership an administrator made)."""

from django.conf import settings
from django.db import models

from apps.core.model_mixins import TenantScopedModel, TimestampedModel
from apps.identity.models.providers import IdentityProvider


class DirectorySyncState(TenantScopedModel):
    """Where the next sync of a provider starts: Graph's `@odata.deltaLink`
    of the last complete users and groups rounds (empty: a full listing)."""

    provider = models.OneToOneField(IdentityProvider, on_delete=models.CASCADE, related_name="sync_state")
    users_delta_link = models.TextField(blank=True)
    groups_delta_link = models.TextField(blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sync state of {self.provider}"


class DirectorySyncRun(TenantScopedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another run of the provider was in progress)"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "On demand"
        SCHEDULE = "schedule", "Scheduled"

    class Phase(models.TextChoices):
        PENDING = "pending", "Not started"
        USERS = "users", "Reading users"
        GROUPS = "groups", "Reading groups and memberships"
        ROLES = "roles", "Applying role mappings"
        DONE = "done", "Done"

    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="sync_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.PENDING)
    # "delta" from the stored delta links, "full" when there were none or Graph expired them.
    mode = models.CharField(max_length=10, blank=True)
    pages_read = models.PositiveIntegerField(default=0)
    # users_upserted, users_removed, groups_upserted, groups_removed,
    # memberships_added, memberships_removed, roles_granted, roles_changed,
    # roles_revoked, throttled (429s waited out), resyncs (expired delta links).
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["provider", "-created_at"], name="identity_syncrun_prov_created")]

    def __str__(self) -> str:
        return f"sync of {self.provider_id}: {self.status}"


class RoleMapping(TenantScopedModel):
    """Members of a directory group get a client role. When several of a
    user's groups map, the lowest `priority` number wins."""

    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="role_mappings")
    group_object_id = models.CharField(max_length=64)  # the Graph group id = a value of the token's `groups`
    role_code = models.CharField(max_length=63)  # an identity.Role code of the client
    priority = models.PositiveIntegerField(default=100)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["provider_id", "priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "group_object_id"], name="identity_rolemap_provider_group"),
        ]

    def __str__(self) -> str:
        return f"{self.group_object_id} -> {self.role_code}"


class MappedMembership(TimestampedModel):
    """A client membership that role mapping granted, with the role it set.
    Mapping changes or revokes only these; a membership whose role an
    administrator changed by hand leaves mapping's care (the marker goes)."""

    membership = models.OneToOneField("core.Membership", on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="+")
    role_code = models.CharField(max_length=63)

    def __str__(self) -> str:
        return f"mapped {self.role_code} ({self.membership_id})"
