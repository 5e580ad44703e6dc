"""Session sign-out that also ends the WebSockets the session opened."""

from django.contrib.auth import views as auth_views

from apps.core.ws_revocation import user_sockets_recheck


class LogoutView(auth_views.LogoutView):
    """Django's logout (the session is flushed), then the user's sockets
    re-check: those that rode this session close (4401); token sockets and
    other sessions' sockets stay."""

    def post(self, request, *args, **kwargs):
        user_id = request.user.pk if request.user.is_authenticated else None
        response = super().post(request, *args, **kwargs)
        if user_id is not None:
            user_sockets_recheck(user_id=user_id)
        return response
