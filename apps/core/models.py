"""The shared kernel: tenants (clients), membership, base model mixins."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

code_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,62}$",
    "Use lower snake case: a letter, then letters, digits or underscores (at most 63).",
)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Client(TimestampedModel):
    """A tenant: every business record belongs to exactly one client."""

    code = models.CharField(max_length=63, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class TenantQuerySet(models.QuerySet):
    def for_client(self, client: Client) -> "TenantQuerySet":
        return self.filter(client=client)


class TenantScopedModel(TimestampedModel):
    """Base for records owned by a client; query them through `for_client`."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Membership(TimestampedModel):
    class Role(models.TextChoices):
        ADMIN = "admin", "Administrator"
        ANALYST = "analyst", "Analyst"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="core_membership_user_client_unique"),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(is_default=True), name="core_membership_one_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.client} ({self.role})"
