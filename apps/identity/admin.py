"""Identity in the Django admin: roles (admin_roles), identity providers
(admin_providers), the directory, its syncs and role mappings
(admin_directory)."""

from apps.identity import admin_directory, admin_providers, admin_roles  # noqa: F401  (each registers its pages)
