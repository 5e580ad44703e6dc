from django.apps import AppConfig


class OntologyConfig(AppConfig):
    name = "apps.ontology"
    verbose_name = "Ontology (business metadata)"

    def ready(self) -> None:
        from apps.ontology import (
            table_owners,  # noqa: F401 - tells the warehouse whose table is whose
            versioning,  # noqa: F401 - registers the models with django-reversion
        )
