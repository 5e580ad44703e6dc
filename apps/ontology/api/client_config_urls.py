from apps.core.urls import path_optional_slash
from apps.ontology.api.client_config_views import ClientConfigAPIView

urlpatterns = [
    path_optional_slash("client-config", ClientConfigAPIView.as_view(), name="client-config"),
]
