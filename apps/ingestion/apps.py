from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "apps.ingestion"
    verbose_name = "Ingestion (jobs, mapping, standardization, runs)"
