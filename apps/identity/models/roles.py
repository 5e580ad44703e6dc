"""A client's roles: named sets of permissions (apps.core.access.Permission).
A membership (core.Membership.role) names its role by code within its client."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.model_mixins import TenantScopedModel
from apps.core.models import code_validator


class Role(TenantScopedModel):
    code = models.CharField(max_length=63, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    permissions = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    # admin, analyst and viewer are seeded for every client; they can be edited, not deleted.
    is_seeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["client_id", "code"]
        constraints = [models.UniqueConstraint(fields=["client", "code"], name="identity_role_client_code_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
