from django.apps import AppConfig


class CalculationsConfig(AppConfig):
    name = "apps.calculations"
    verbose_name = "Calculation engine"

    def ready(self) -> None:
        from apps.calculations import (
            cache,  # noqa: F401 - registers cache invalidation on rows loaded
            checks,  # noqa: F401 - registers the compile check on metric definitions
            publishers,  # noqa: F401 - registers metric.calculated's schema
            rollup_listeners,  # noqa: F401 - rollup invalidation, automatic generation, cleanup on deletes
            routing_state,  # noqa: F401 - moves the routing version when definitions change
        )
        from apps.calculations.realtime import CHANNEL_FAMILY, metric_channel_authorize
        from apps.calculations.thresholds.services import threshold_alert_replay
        from apps.core.access import Permission
        from apps.core.realtime import channel_family_register
        from apps.core.secret_fields import secret_field_register
        from apps.messaging.services import dead_letter_replayer_register
        from apps.messaging.types import DeadLetterKind

        # /ws/ subscriptions to metric.<code> (apps/core/websockets.py).
        channel_family_register(CHANNEL_FAMILY, metric_channel_authorize, permission=Permission.VIEW_METRICS)
        # A threshold alert that failed for good is parked in messaging's dead letters; replaying it sends it again.
        dead_letter_replayer_register(DeadLetterKind.THRESHOLD_ALERT, threshold_alert_replay)
        # A threshold's webhook URL authenticates by itself: stored encrypted, rewrapped by `secrets_rotate`.
        secret_field_register(model="calculations.ThresholdRule", field="webhook_url_encrypted")
