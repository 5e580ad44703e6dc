"""Routes of the ontology studio (`/ontology/`): entity editor, relationship builder, version history."""

from django.urls import path

from apps.web import views_ontology as v

urlpatterns: list = [
    path("ontology/", v.ontology_studio, name="ontology_studio"),
    path("ontology/entities/new/", v.ontology_entity_new, name="ontology_entity_new"),
    path("ontology/entities/<str:code>/", v.ontology_entity, name="ontology_entity"),
    path("ontology/entities/<str:code>/history/", v.ontology_entity_history, name="ontology_entity_history"),
    path(
        "ontology/entities/<str:code>/history/<int:version_id>/",
        v.ontology_entity_diff,
        name="ontology_entity_diff",
    ),
    path(
        "ontology/entities/<str:code>/history/<int:version_id>/revert/",
        v.ontology_entity_revert,
        name="ontology_entity_revert",
    ),
    path("ontology/relationships/new/", v.ontology_relationship_new, name="ontology_relationship_new"),
    path("ontology/attribute-options/", v.ontology_attribute_options, name="ontology_attribute_options"),
]
