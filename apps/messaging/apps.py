from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "apps.messaging"
    verbose_name = "Messaging (event bus, webhooks)"

    def ready(self) -> None:
        from apps.core.health import health_check_register
        from apps.core.secret_fields import secret_field_register
        from apps.messaging.selectors import outbox_check

        # /health shows the outbox's backlog: events committed but not yet relayed.
        health_check_register("outbox", outbox_check)
        # The signing secret is stored encrypted; `manage.py secrets_rotate` rewraps it.
        secret_field_register(model="messaging.Subscription", field="secret_encrypted")
