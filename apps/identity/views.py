"""The login page (/accounts/login/): the e-mail step first (single sign-on
through the provider that owns the address's domain), the password form
below it for local accounts (break-glass administrators; refused with a
clear message where a client switched password sign-in off)."""

from urllib.parse import urlencode

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from apps.identity.password_login import REFUSAL_CODE, PasswordSignInForm
from apps.identity.selectors.providers import email_domain, provider_for_email
from apps.identity.sign_in_pages import login_page, sign_in_rate_limited

EMAIL_STEP = "email"


def _sso_url(params: dict[str, str]) -> str:
    query = {k: v for k, v in params.items() if v}
    return f"{reverse('oidc_login')}?{urlencode(query)}"


def _sso_start(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    return HttpResponseRedirect(_sso_url(params))


def _sso_continue(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """After the e-mail form: a page that moves on by itself (meta refresh,
    and a link). Not a redirect: the page's CSP allows forms to submit to
    this site only (`form-action 'self'`), and browsers hold the redirects
    that follow a form submission to it too, so a redirect chain from the
    form to the provider's authorize URL would be blocked."""
    return render(request, "registration/sso_redirect.html", {"sso_url": _sso_url(params)})


class SignInView(auth_views.LoginView):
    authentication_form = PasswordSignInForm
    redirect_authenticated_user = True

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        email = request.GET.get("email", "").strip()
        provider = request.GET.get("provider", "").strip()
        if email or provider:  # a link straight into single sign-on
            return _sso_start(request, {"email": email, "provider": provider, "next": request.GET.get("next", "")})
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        limited = sign_in_rate_limited(request)
        if limited:
            return limited
        if request.POST.get("step") != EMAIL_STEP:
            return super().post(request, *args, **kwargs)
        email = request.POST.get("email", "").strip()
        next_url = request.POST.get("next", "")
        if provider_for_email(email=email) is not None:
            return _sso_continue(request, {"email": email, "next": next_url})
        domain = email_domain(email)
        message = (
            f"No single sign-on is set up for {domain}. Sign in with a username and password if you have them."
            if domain
            else "Enter your work e-mail address (like name@example.com)."
        )
        return login_page(request, status=400, sso_error=message, email=email, next_url=next_url)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context.get("form")
        context["password_login_refused"] = bool(form is not None and form.has_error("__all__", REFUSAL_CODE))
        return context
