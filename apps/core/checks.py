"""System checks of the platform's own settings (`manage.py check --deploy`)."""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.security, deploy=True)
def encryption_keys_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Stored secrets (webhook secrets, credentials) need AE_SECRET_KEKS;
    a deployment learns it before the first secret is stored, not at it."""
    from apps.core.crypto import encryption_keys_load

    try:
        encryption_keys_load()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="core.E001")]
    return []
