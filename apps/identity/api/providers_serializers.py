"""Input and output shapes of the identity provider API. The client secret
is write-only: responses say `has_client_secret` and never carry it."""

from rest_framework import serializers

from apps.identity.models import IdentityProvider


class IdentityProviderInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=IdentityProvider.Kind.choices, default=IdentityProvider.Kind.AZURE_AD)
    authority = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    tenant_id = serializers.CharField(max_length=64, help_text="The directory (tenant) id: the tokens' `tid`.")
    application_id = serializers.CharField(
        max_length=255, help_text="The app registration's Application (client) ID: the tokens' `aud`."
    )
    client_secret = serializers.CharField(
        required=False, write_only=True, allow_blank=True, trim_whitespace=False, max_length=1000,
        help_text="Write-only; stored encrypted and never returned.",
    )  # fmt: skip
    allowed_domains = serializers.ListField(child=serializers.CharField(max_length=253), required=False, default=list)
    graph_base_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    is_enabled = serializers.BooleanField(required=False, default=True)


class IdentityProviderUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=IdentityProvider.Kind.choices, required=False)
    authority = serializers.CharField(max_length=500, required=False)
    tenant_id = serializers.CharField(max_length=64, required=False)
    application_id = serializers.CharField(max_length=255, required=False)
    client_secret = serializers.CharField(
        required=False, write_only=True, allow_blank=True, trim_whitespace=False, max_length=1000,
        help_text="Write-only; an empty string removes the stored secret.",
    )  # fmt: skip
    allowed_domains = serializers.ListField(child=serializers.CharField(max_length=253), required=False)
    graph_base_url = serializers.CharField(max_length=500, required=False)
    is_enabled = serializers.BooleanField(required=False)


class IdentityProviderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    authority = serializers.CharField()
    tenant_id = serializers.CharField()
    application_id = serializers.CharField()
    has_client_secret = serializers.SerializerMethodField()
    allowed_domains = serializers.ListField(child=serializers.CharField())
    graph_base_url = serializers.CharField()
    is_enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_has_client_secret(self, obj) -> bool:
        return bool(obj.client_secret_encrypted)
