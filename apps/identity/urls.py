"""The sign-in pages' endpoints (docs/identity.md, "Endpoints")."""

from django.urls import path

from apps.identity.oidc.views import ProviderCallbackView, ProviderLoginView, ProviderLogoutView

urlpatterns = [
    path("auth/oidc/login/", ProviderLoginView.as_view(), name="oidc_login"),
    path("auth/oidc/callback/", ProviderCallbackView.as_view(), name="oidc_callback"),
    path("auth/oidc/logout/", ProviderLogoutView.as_view(), name="oidc_logout"),
]
