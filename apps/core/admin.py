from django import forms
from django.contrib import admin

from apps.core.access import role_codes
from apps.core.models import Client, Membership
from apps.core.services import membership_grant, membership_revoke, membership_role_set
from apps.core.ws_revocation import user_sockets_recheck


class MembershipForm(forms.ModelForm):
    """The role is one of the client's role codes (identity.Role)."""

    def clean(self):
        data = super().clean()
        client = data.get("client") or getattr(self.instance, "client", None)
        role = data.get("role")
        if client is not None and client.pk and role:
            codes = role_codes(client_id=client.pk)
            if role not in codes:
                self.add_error("role", f"This client has no role {role!r}; its roles are {', '.join(codes)}.")
        return data


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            # A deactivated client's members lose it: their sockets on it close.
            for user_id in obj.memberships.values_list("user_id", flat=True):
                user_sockets_recheck(user_id=user_id)

    def save_formset(self, request, form, formset, change) -> None:
        """Membership rows go through the services, so a removal or a role
        change reaches the member's tokens and open sockets."""
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # sorts rows into new, changed and deleted; writes nothing
        for membership in formset.deleted_objects:
            membership_revoke(membership=membership)
        for membership, _changed in formset.changed_objects:
            stored = Membership.objects.get(pk=membership.pk)
            if stored.user_id != membership.user_id:
                # The row moved to another user: the first one loses the client.
                membership_revoke(membership=stored)
                membership_grant(
                    user=membership.user, client=membership.client, role=membership.role,
                    is_default=membership.is_default,
                )  # fmt: skip
            else:
                membership_role_set(membership=membership, role=membership.role, is_default=membership.is_default)
        for membership in formset.new_objects:
            membership.pk = membership_grant(
                user=membership.user, client=membership.client, role=membership.role, is_default=membership.is_default
            ).pk


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipForm
    list_display = ["user", "client", "role", "is_default"]
    list_filter = ["role", "client"]
    search_fields = ["user__username", "client__code"]
    autocomplete_fields = ["user", "client"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a membership to another user or client is a removal and a
        # grant: do those instead, so both reach tokens and sockets.
        return ["user", "client"] if obj is not None else []

    def save_model(self, request, obj, form, change) -> None:
        if change:
            membership_role_set(membership=obj, role=obj.role, is_default=obj.is_default)
        else:
            obj.pk = membership_grant(user=obj.user, client=obj.client, role=obj.role, is_default=obj.is_default).pk

    def delete_model(self, request, obj) -> None:
        membership_revoke(membership=obj)

    def delete_queryset(self, request, queryset) -> None:
        for membership in queryset:
            membership_revoke(membership=membership)
