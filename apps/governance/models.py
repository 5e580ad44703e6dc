"""Row policies: per client, a subject (a role, a directory group or a user),
an entity and a predicate in the formula language's filter syntax. The rows
of the entity a subject may see are those the predicate holds for; policies
that apply to the same principal and entity combine with OR (docs/access.md)."""

from django.db import models

from apps.core.model_mixins import TenantScopedModel


class RowPolicy(TenantScopedModel):
    class SubjectKind(models.TextChoices):
        ROLE = "role", "Role (its code)"
        GROUP = "group", "Directory group (its object id)"
        USER = "user", "User (their id)"

    name = models.CharField(max_length=200)
    subject_kind = models.CharField(max_length=10, choices=SubjectKind.choices)
    # The role's code (viewer), the directory group's object id, or the user's id.
    subject_value = models.CharField(max_length=200)
    entity_code = models.CharField(max_length=100)
    predicate = models.TextField()
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["entity_code", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "name"], name="governance_rowpolicy_client_name_unique"),
        ]
        indexes = [models.Index(fields=["client", "is_enabled"], name="governance_rowpolicy_enabled")]

    def __str__(self) -> str:
        return f"{self.name}: {self.entity_code} where {self.predicate}"
