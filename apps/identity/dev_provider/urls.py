"""The development provider's URLs, Azure AD's layout under the `/idp/` mount
(analytics_engine/urls.py mounts it only when AE_DEV_IDP_ENABLED):

    {tenant}/v2.0/.well-known/openid-configuration   discovery
    {tenant}/oauth2/v2.0/authorize                    authorization (code + PKCE)
    {tenant}/oauth2/v2.0/token                        token
    {tenant}/discovery/v2.0/keys                      JWKS
    {tenant}/oauth2/v2.0/logout                       end session
    {tenant}/login                                    the provider's sign-in page
    oidc/userinfo                                     userinfo (Azure's lives on Graph)

`{tenant}` is a development tenant's GUID, `organizations` or `common`;
another answers 400 AADSTS90002 on every endpoint, as Azure does."""

from django.urls import path
from oauth2_provider.views import JwksInfoView, TokenView, UserInfoView

from apps.identity.dev_provider import views

app_name = "dev_idp"

urlpatterns = [
    path("", views.LoginView.as_view(), {"tenant": "organizations"}, name="root"),
    path("oidc/userinfo", UserInfoView.as_view(), name="userinfo"),
    path("<str:tenant>/v2.0/.well-known/openid-configuration", views.discovery, name="discovery"),
    path("<str:tenant>/oauth2/v2.0/authorize", views.AuthorizeView.as_view(), name="authorize"),
    path("<str:tenant>/oauth2/v2.0/token", views.tenant_checked(TokenView.as_view()), name="token"),
    path("<str:tenant>/discovery/v2.0/keys", views.tenant_checked(JwksInfoView.as_view()), name="jwks"),
    path("<str:tenant>/oauth2/v2.0/logout", views.LogoutView.as_view(), name="logout"),
    path("<str:tenant>/login", views.LoginView.as_view(), name="login"),
]
