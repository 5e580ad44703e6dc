"""Routes of the access console (`/access/`): members, roles, role mappings
with the directory sync and the audit, row policies with their preview,
identity providers."""

from django.urls import path

from apps.web import views_access as v

urlpatterns: list = [
    path("access/", v.access, name="access"),
    path("access/members/<int:membership_id>/role/", v.access_member_role, name="access_member_role"),
    path("access/roles/", v.access_roles, name="access_roles"),
    path("access/roles/<str:code>/", v.access_role, name="access_role"),
    path("access/roles/<str:code>/delete/", v.access_role_delete, name="access_role_delete"),
    path("access/mappings/", v.access_mappings, name="access_mappings"),
    path("access/mappings/<int:mapping_id>/", v.access_mapping, name="access_mapping"),
    path("access/mappings/<int:mapping_id>/delete/", v.access_mapping_delete, name="access_mapping_delete"),
    path("access/sync/", v.access_sync_start, name="access_sync_start"),
    path("access/sync/<int:run_id>/", v.access_sync_run, name="access_sync_run"),
    path("access/policies/", v.access_policies, name="access_policies"),
    path("access/policies/preview/", v.access_policy_preview, name="access_policy_preview"),
    path("access/policies/<int:policy_id>/", v.access_policy, name="access_policy"),
    path("access/policies/<int:policy_id>/delete/", v.access_policy_delete, name="access_policy_delete"),
    path("access/providers/", v.access_providers, name="access_providers"),
    path("access/providers/new/", v.access_provider_new, name="access_provider_new"),
    path("access/providers/<int:provider_id>/", v.access_provider, name="access_provider"),
    path("access/providers/<int:provider_id>/enabled/", v.access_provider_enabled, name="access_provider_enabled"),
    path("access/providers/<int:provider_id>/delete/", v.access_provider_delete, name="access_provider_delete"),
    path("access/password-login/", v.access_password_login, name="access_password_login"),
]
