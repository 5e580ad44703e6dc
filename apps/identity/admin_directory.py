"""Role mappings (validated by the same rules as the API), the directory
sync runs and the mirrored directory (read-only) in the Django admin."""

from django import forms
from django.contrib import admin

from apps.core.errors import AppError
from apps.identity.models import DirectoryGroup, DirectorySyncRun, DirectoryUser, RoleMapping
from apps.identity.services.role_mapping import role_mapping_validate


class RoleMappingForm(forms.ModelForm):
    class Meta:
        model = RoleMapping
        fields = ["client", "provider", "group_object_id", "role_code", "priority", "description"]

    def clean(self):
        data = super().clean()
        client, provider = data.get("client"), data.get("provider")
        if client and provider and provider.client_id != client.pk:
            self.add_error("provider", "This provider belongs to another client.")
        elif client and provider and data.get("group_object_id") and data.get("role_code"):
            try:
                role_mapping_validate(
                    client_id=client.pk,
                    provider=provider,
                    group_object_id=data["group_object_id"],
                    role_code=data["role_code"],
                    mapping_id=self.instance.pk,
                )
            except AppError as exc:
                for field, messages in exc.details.items():
                    for message in messages:
                        self.add_error(field, message)
        return data


@admin.register(RoleMapping)
class RoleMappingAdmin(admin.ModelAdmin):
    form = RoleMappingForm
    list_display = ["id", "client", "provider", "group_object_id", "role_code", "priority", "description"]
    list_filter = ["client", "provider", "role_code"]
    search_fields = ["group_object_id", "role_code", "description"]


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DirectorySyncRun)
class DirectorySyncRunAdmin(_ReadOnly):
    list_display = ["id", "client", "provider", "status", "trigger", "mode", "phase", "pages_read", "created_at"]
    list_filter = ["status", "trigger", "client"]
    readonly_fields = [f.name for f in DirectorySyncRun._meta.fields]


@admin.register(DirectoryUser)
class DirectoryUserAdmin(_ReadOnly):
    list_display = ["display_name", "user_principal_name", "object_id", "provider", "account_enabled", "removed_at"]
    list_filter = ["provider", "account_enabled"]
    search_fields = ["display_name", "user_principal_name", "mail", "object_id"]


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(_ReadOnly):
    list_display = ["display_name", "object_id", "provider", "removed_at"]
    list_filter = ["provider"]
    search_fields = ["display_name", "object_id"]
