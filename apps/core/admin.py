from django.contrib import admin

from apps.core.models import Client, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "client", "role", "is_default"]
    list_filter = ["role", "client"]
    search_fields = ["user__username", "client__code"]
    autocomplete_fields = ["user", "client"]
