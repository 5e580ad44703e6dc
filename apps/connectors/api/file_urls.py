"""The file upload of file connections; included beside the connections' URLs
(the trailing slash optional, as everywhere in the API)."""

from django.urls import re_path

from apps.connectors.api.files import ConnectionFilesView

urlpatterns = [
    re_path(r"^connections/(?P<code>[^/.]+)/files/?$", ConnectionFilesView.as_view(), name="source-connection-files"),
]
