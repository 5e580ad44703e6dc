from django.urls import re_path

from apps.core.websockets import RealtimeConsumer

websocket_urlpatterns = [re_path(r"^ws/?$", RealtimeConsumer.as_asgi())]
