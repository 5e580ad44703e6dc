"""Django signals core listens to. Only one, and on purpose: Django changes a
password (admin form, `changepassword`, `set_password` in any service) or the
active flag by saving the user, and nothing else is common to every path; so
every save of an existing user tells their open sockets to re-check, and a
deactivation revokes their tokens (apps.core.services.user_credentials_changed).
Tokens need no signal for a password change: they carry a digest of the
password hash (CHECK_REVOKE_TOKEN)."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save

from apps.core.services import user_credentials_changed


def _user_saved(sender, instance, created, raw=False, update_fields=None, **kwargs) -> None:
    if created or raw or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    user_credentials_changed(user=instance)


def receivers_connect() -> None:
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="apps.core.user_saved")
