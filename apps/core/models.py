"""The shared kernel: tenants (clients) and membership. Base model mixins
for every app live in apps.core.model_mixins."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from apps.core.model_mixins import TimestampedModel

code_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,62}$",
    "Use lower snake case: a letter, then letters, digits or underscores (at most 63).",
)


class Client(TimestampedModel):
    """A tenant: every business record belongs to exactly one client."""

    code = models.CharField(max_length=63, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Local password sign-in (break-glass administrators) beside the client's
    # identity providers; a client that signs in only through Azure AD turns it off.
    password_login_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Membership(TimestampedModel):
    class Role(models.TextChoices):
        """The codes of the roles every client is seeded with (apps.core.access.SEEDED_ROLES).
        A client may have more: `role` is any role code of the client (identity.Role)."""

        ADMIN = "admin", "Administrator"
        ANALYST = "analyst", "Analyst"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    # The code of a role of this client; its permissions are the role's (apps.core.access).
    role = models.CharField(max_length=63, default=Role.VIEWER)
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


class TokenGeneration(models.Model):
    """A user's token generation. Every JWT carries the generation it was issued
    in (the `gen` claim; a token without it counts as 0) and is refused once the
    generation moved on: logout everywhere, deactivation and the loss of the
    last membership bump it (apps.core.services.user_tokens_revoke)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="token_generation"
    )
    generation = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} generation {self.generation}"


class SensitiveArtifact(TimestampedModel):
    """A sensitive file of a client (a generated credentials file, an exported
    report), stored encrypted: `content_encrypted` is an envelope of
    apps.core.crypto, rewrapped by `manage.py secrets_rotate`. Only the
    client's administrators list, read or delete it (apps/core/artifacts.py)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_encrypted = models.TextField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="core_artifact_client_created")]

    def __str__(self) -> str:
        return self.name
