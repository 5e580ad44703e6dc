"""Identity providers per client (Azure AD, or any OIDC issuer with Azure AD
v2's claims such as the development provider) and the external identities
they vouch for."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.model_mixins import TenantScopedModel, TimestampedModel

AZURE_AUTHORITY = "https://login.microsoftonline.com"
GRAPH_BASE_URL = "https://graph.microsoft.com"


class IdentityProvider(TenantScopedModel):
    """One Azure AD tenant (or an issuer shaped like one) a client signs in
    with. Endpoints follow Azure's layout under `authority`:
    `{authority}/{tenant_id}/v2.0/.well-known/openid-configuration`, so the
    development provider, mounted with the same layout, stands in for Azure
    AD by changing `authority` alone."""

    class Kind(models.TextChoices):
        AZURE_AD = "azure_ad", "Azure AD (Microsoft Entra ID)"
        DEVELOPMENT = "development", "Development provider (this platform's own issuer)"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AZURE_AD)
    authority = models.URLField(max_length=500, default=AZURE_AUTHORITY)
    tenant_id = models.CharField(max_length=64)  # the directory (tenant) GUID: the `tid` claim
    # The app registration's "Application (client) ID": the `aud` claim of its tokens.
    application_id = models.CharField(max_length=255)
    # Envelope of apps.core.crypto, purpose "identity.identityprovider.client_secret_encrypted";
    # write-only through the API.
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    # Lower-case e-mail domains whose users this provider signs in (the login page picks by domain).
    allowed_domains = ArrayField(models.CharField(max_length=253), default=list, blank=True)
    graph_base_url = models.URLField(max_length=500, default=GRAPH_BASE_URL)
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["client_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "name"], name="identity_provider_client_name_unique"),
            models.UniqueConstraint(fields=["client", "tenant_id"], name="identity_provider_client_tenant_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ExternalIdentity(TimestampedModel):
    """A user as a provider knows them: keyed on (`tid`, `oid`), never on
    e-mail. The same `oid` in two tenants is two identities and two users."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="identities")
    tenant_id = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    preferred_username = models.CharField(max_length=320, blank=True)
    # The verified ID token's claims at the last sign-in (no token, no secrets).
    last_claims = models.JSONField(default=dict, blank=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "object_id"], name="identity_external_tid_oid_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.preferred_username or self.object_id} ({self.tenant_id})"
