"""Roles in the Django admin, saved through apps.identity.services.roles (the API's validation)."""

from django import forms
from django.contrib import admin, messages

from apps.core.access import Permission
from apps.core.errors import AppError
from apps.identity.models import Role
from apps.identity.services.roles import role_create, role_delete, role_update


class RoleForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        choices=[(p.value, f"{p.value}: {p.description}") for p in Permission],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Role
        fields = ["client", "code", "name", "description", "permissions"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """Roles go through the services: permission codes are checked, members'
    sockets re-check on a change, seeded and held roles are not deleted."""

    form = RoleForm
    list_display = ["code", "name", "client", "is_seeded", "permission_list"]
    list_filter = ["is_seeded", "client"]
    search_fields = ["code", "name", "client__code"]
    readonly_fields = ["is_seeded"]

    @admin.display(description="permissions")
    def permission_list(self, obj: Role) -> str:
        return ", ".join(sorted(obj.permissions))

    def get_readonly_fields(self, request, obj=None):
        return ["client", "code", "is_seeded"] if obj is not None else ["is_seeded"]

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        if change:
            role_update(
                client_id=obj.client_id,
                code=obj.code,
                name=data["name"],
                description=data["description"],
                permissions=data["permissions"],
            )
        else:
            created = role_create(
                client_id=data["client"].pk,
                code=data["code"],
                name=data["name"],
                description=data["description"],
                permissions=data["permissions"],
            )
            obj.pk = created.id

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_seeded)

    def _delete(self, request, role: Role) -> None:
        try:
            role_delete(client_id=role.client_id, code=role.code)
        except AppError as exc:  # seeded, or still held by members: say so, delete nothing
            self.message_user(request, exc.message, level=messages.ERROR)

    def delete_model(self, request, obj) -> None:
        self._delete(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for role in queryset:
            self._delete(request, role)
