"""The development provider's own bookkeeping (apps/identity/dev_provider/):
which Django user stands for a development identity as django-oauth-toolkit's
resource owner, and how each of its applications shapes access tokens."""

from django.conf import settings
from django.db import models
from oauth2_provider.settings import APPLICATION_MODEL

from apps.core.model_mixins import TimestampedModel


class DevProviderAccount(TimestampedModel):
    """The resource owner django-oauth-toolkit records on grants and tokens for
    one development identity (tid, oid). Its Django user is inactive with an
    unusable password: it can never sign in to the platform; the platform's
    own user for that person comes from the relying party (ExternalIdentity)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dev_provider_account")
    tenant_id = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "object_id"], name="identity_devaccount_tid_oid_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.object_id} ({self.tenant_id})"


class DevProviderApplication(TimestampedModel):
    """How the development provider shapes one application's access tokens,
    as an Azure app registration's manifest would: v2 (`ver` 2.0, `aud` = the
    application id) or v1 (`ver` 1.0, `aud` = `api://<id>`, issuer
    `{base}/idp/{tid}/` like https://sts.windows.net/{tid}/)."""

    class AccessTokenVersion(models.IntegerChoices):
        V1 = 1, "v1 (accessTokenAcceptedVersion null or 1)"
        V2 = 2, "v2 (accessTokenAcceptedVersion 2)"

    application = models.OneToOneField(APPLICATION_MODEL, on_delete=models.CASCADE, related_name="dev_provider")
    access_token_version = models.PositiveSmallIntegerField(
        choices=AccessTokenVersion.choices, default=AccessTokenVersion.V2
    )

    def __str__(self) -> str:
        return f"{self.application_id} (access tokens v{self.access_token_version})"
