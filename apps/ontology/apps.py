from django.apps import AppConfig


class OntologyConfig(AppConfig):
    name = "apps.ontology"
    verbose_name = "Ontology (business metadata)"

    def ready(self) -> None:
        from apps.ontology import (
            publishers,  # noqa: F401 - registers the payload schemas of the events the ontology publishes
            table_owners,  # noqa: F401 - tells the warehouse whose table is whose
            versioning,  # noqa: F401 - registers the models with django-reversion
        )
