from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "apps.ingestion"
    verbose_name = "Ingestion (jobs, mapping, standardization, runs)"

    def ready(self) -> None:
        from apps.core.access import Permission
        from apps.core.realtime import channel_family_register
        from apps.ingestion.runner import CHANNEL_FAMILY, run_channel_authorize

        # /ws/ subscriptions to ingestion.<job code>: a run's progress (docs/sources.md).
        channel_family_register(CHANNEL_FAMILY, run_channel_authorize, permission=Permission.MANAGE_SOURCES)
