"""Identity in the Django admin. Directory sync and role mapping pages: admin_directory."""

from apps.identity import admin_directory  # noqa: F401  (registers the directory, sync and role mapping pages)
