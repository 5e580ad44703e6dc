from apps.core.urls import path_optional_slash
from apps.ontology.api.drift_views import DriftReportDetailView, DriftReportListView

urlpatterns = [
    path_optional_slash("ontology/drift/", DriftReportListView.as_view(), name="ontology-drift"),
    path_optional_slash(
        r"ontology/drift/(?P<pk>[0-9]+)/", DriftReportDetailView.as_view(), name="ontology-drift-detail"
    ),
]
