"""Every new client gets the seeded roles (admin, analyst, viewer), whatever
created it (admin, a service, a factory in a test): a post_save receiver on
core.Client is the one place no path bypasses."""

from django.db.models.signals import post_save

from apps.identity.services.roles import roles_seed


def _client_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if created and not raw:
        roles_seed(client_id=instance.pk)


def receivers_connect() -> None:
    post_save.connect(_client_saved, sender="core.Client", dispatch_uid="apps.identity.client_roles_seed")
