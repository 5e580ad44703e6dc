"""The directory of a client's identity provider, mirrored from Microsoft
Graph by the directory sync: users, groups and who belongs to which."""

from django.db import models

from apps.core.model_mixins import TenantScopedModel
from apps.identity.models.providers import IdentityProvider


class DirectoryUser(TenantScopedModel):
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="directory_users")
    object_id = models.CharField(max_length=64)  # Graph user id = the token's `oid`
    user_principal_name = models.CharField(max_length=320, blank=True)
    display_name = models.CharField(max_length=256, blank=True)
    mail = models.CharField(max_length=320, blank=True)
    account_enabled = models.BooleanField(default=True)
    # Other Graph attributes (department, country, jobTitle, ...): the values
    # row policies' `{user.<attribute>}` placeholders read.
    attributes = models.JSONField(default=dict, blank=True)
    # Set when Graph reports the user `@removed`; the row stays for the audit trail.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider_id", "display_name", "object_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "object_id"], name="identity_diruser_provider_oid_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.user_principal_name or self.object_id


class DirectoryGroup(TenantScopedModel):
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="directory_groups")
    object_id = models.CharField(max_length=64)  # Graph group id = a value of the token's `groups`
    display_name = models.CharField(max_length=256, blank=True)
    description = models.TextField(blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider_id", "display_name", "object_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "object_id"], name="identity_dirgroup_provider_oid_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.object_id


class DirectoryMembership(models.Model):
    group = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="identity_dirmembership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.group}"
