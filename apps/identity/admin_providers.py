"""Identity providers in the Django admin, through the same services as the
API: the client secret is a write-only field (never shown, left as stored
when blank unless "remove" is ticked)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from apps.core.errors import AppError
from apps.identity.models import ExternalIdentity, IdentityProvider
from apps.identity.services.providers import (
    EDITABLE,
    identity_provider_check,
    identity_provider_create,
    identity_provider_update,
)


class IdentityProviderForm(forms.ModelForm):
    client_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: stored encrypted, never shown. Leave blank to keep the stored secret.",
    )
    remove_client_secret = forms.BooleanField(required=False, help_text="Remove the stored secret.")

    class Meta:
        model = IdentityProvider
        fields = ["client", *EDITABLE]

    def clean(self):
        data = super().clean()
        values = {field: data.get(field) for field in EDITABLE}
        try:
            identity_provider_check(values=values, provider=self.instance if self.instance.pk else None)
        except AppError as exc:
            raise ValidationError(exc.message) from None
        return data


@admin.register(IdentityProvider)
class IdentityProviderAdmin(admin.ModelAdmin):
    form = IdentityProviderForm
    list_display = ["name", "client", "kind", "tenant_id", "is_enabled", "has_client_secret"]
    list_filter = ["kind", "is_enabled", "client"]
    search_fields = ["name", "tenant_id", "application_id", "client__code"]

    @admin.display(boolean=True)
    def has_client_secret(self, obj) -> bool:
        return bool(obj.client_secret_encrypted)

    def get_readonly_fields(self, request, obj=None):
        return ["client"] if obj else []

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        secret = "" if data.get("remove_client_secret") else (data.get("client_secret") or None)
        values = {field: data[field] for field in EDITABLE if field in data}
        if change:
            stored = IdentityProvider.objects.get(pk=obj.pk)
            saved = identity_provider_update(provider=stored, client_secret=secret, **values)
        else:
            saved = identity_provider_create(client_id=data["client"].pk, client_secret=secret, **values)
        obj.pk = saved.pk


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    list_display = ["preferred_username", "user", "provider", "tenant_id", "object_id", "last_sign_in_at"]
    search_fields = ["preferred_username", "object_id", "tenant_id", "user__username"]
    readonly_fields = [
        "user",
        "provider",
        "tenant_id",
        "object_id",
        "preferred_username",
        "last_claims",
        "last_sign_in_at",
    ]
