from apps.core.urls import path_optional_slash
from apps.ontology.api.data_views import EntityRowsView

urlpatterns = [
    # Any code up to the slash: an unknown one answers the API's 404, not the router's.
    path_optional_slash(r"data/(?P<entity_code>[^/]+)/rows/", EntityRowsView.as_view(), name="data-rows"),
]
