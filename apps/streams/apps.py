from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "apps.streams"
    verbose_name = "Live data feeds (telemetry, news, market)"

    def ready(self) -> None:
        from apps.core.access import Permission
        from apps.core.realtime import channel_family_register
        from apps.streams import schemas  # noqa: F401 - registers the payload schemas (the publish API validates)
        from apps.streams.realtime import CHANNEL_FAMILY, telemetry_channel_authorize

        # /ws/ subscriptions to telemetry.<sensor>: the aggregator's live seconds.
        channel_family_register(CHANNEL_FAMILY, telemetry_channel_authorize, permission=Permission.VIEW_METRICS)
