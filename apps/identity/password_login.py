"""The per-client password-login switch (`Client.password_login_enabled`),
enforced where every password is checked: the console login, the admin
login and the API token endpoint all call django.contrib.auth.authenticate,
whose first backend is this one (the lockout's backend, plus the switch).

The rule is apps.identity.selectors.sign_in.password_login_refusal. The
switch is checked after the password (only the password's holder learns
that it is switched off); the refusal is put on the request so the login
form and the token endpoint can say why instead of "wrong password"."""

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError

from apps.core.login_lockout import LockoutBackend
from apps.identity.selectors.sign_in import password_login_refusal

REFUSAL_ATTRIBUTE = "password_login_refused"
REFUSAL_CODE = "password_login_disabled"


class PasswordLoginBackend(LockoutBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            return None
        refusal = password_login_refusal(user=user)
        if refusal:
            if request is not None:
                setattr(request, REFUSAL_ATTRIBUTE, refusal)
            raise PermissionDenied(refusal)  # no other backend tries the password
        return user


class PasswordSignInForm(AuthenticationForm):
    """Django's form, saying "password sign-in is switched off" when that is
    why the right password was refused."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            refusal = getattr(self.request, REFUSAL_ATTRIBUTE, None)
            if refusal:
                raise ValidationError(refusal, code=REFUSAL_CODE) from None
            raise
