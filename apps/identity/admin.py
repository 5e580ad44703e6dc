"""Identity in the Django admin: roles (admin_roles), identity providers
(admin_providers), the directory, its syncs and role mappings
(admin_directory); django-oauth-toolkit's pages only with the development
provider on (admin_dev_provider)."""

from apps.identity import (  # noqa: F401  (each registers its pages)
    admin_dev_provider,
    admin_directory,
    admin_providers,
    admin_roles,
)
