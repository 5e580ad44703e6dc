from django.apps import AppConfig


class OntologyConfig(AppConfig):
    name = "apps.ontology"
    verbose_name = "Ontology (business metadata)"

    def ready(self) -> None:
        from apps.ontology import versioning  # noqa: F401 - registers the models with django-reversion
