"""The file upload of file connections; included beside the connections' URLs."""

from django.urls import path

from apps.connectors.api.files import ConnectionFilesView

urlpatterns = [
    path("connections/<str:code>/files", ConnectionFilesView.as_view(), name="source-connection-files"),
]
