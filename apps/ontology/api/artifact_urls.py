from apps.core.urls import path_optional_slash
from apps.ontology.api.artifact_views import ArtifactsView, OntologyUMLView

urlpatterns = [
    path_optional_slash("ontology/artifacts/", ArtifactsView.as_view(), name="ontology-artifacts"),
    path_optional_slash("ontology/graph/uml", OntologyUMLView.as_view(), name="ontology-graph-uml"),
]
