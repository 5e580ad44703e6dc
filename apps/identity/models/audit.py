"""The access audit: every grant and revoke of a role, whoever or whatever
made it (an administrator, a sign-in, a directory sync)."""

from django.conf import settings
from django.db import models

from apps.core.model_mixins import TenantScopedModel


class AccessAuditEntry(TenantScopedModel):
    class Action(models.TextChoices):
        GRANT = "grant", "Role granted"
        REVOKE = "revoke", "Role revoked"
        CHANGE = "change", "Role changed"

    class Source(models.TextChoices):
        ADMIN = "admin", "An administrator"
        SIGN_IN = "sign_in", "Sign-in (token groups)"
        DIRECTORY_SYNC = "directory_sync", "Directory sync"

    action = models.CharField(max_length=10, choices=Action.choices)
    source = models.CharField(max_length=20, choices=Source.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(max_length=63, blank=True)
    previous_role = models.CharField(max_length=63, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="identity_audit_client_created")]

    def __str__(self) -> str:
        return f"{self.action} {self.role} ({self.source})"
