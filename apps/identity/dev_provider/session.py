"""Who is signed in to the development provider: its own signed cookie,
scoped to the provider's path (/idp/), never the platform's Django session
(a provider and a relying party sharing one session lose the stored ID
token: the research note). django.core.signing, so it cannot be forged
without SECRET_KEY."""

from django.core import signing
from django.urls import reverse

from apps.identity.dev_provider.directory import DevUser, user_get

COOKIE_NAME = "ae_dev_idp"
_SALT = "identity.dev_provider.session"
MAX_AGE_SECONDS = 8 * 3600


def person_signed_in(request) -> DevUser | None:
    value = request.COOKIES.get(COOKIE_NAME)
    if not value:
        return None
    try:
        data = signing.loads(value, salt=_SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    return user_get(data.get("tid", ""), data.get("oid", ""))


def sign_in(response, request, person: DevUser) -> None:
    response.set_cookie(
        COOKIE_NAME,
        signing.dumps({"tid": person.tenant_id, "oid": person.object_id}, salt=_SALT),
        max_age=MAX_AGE_SECONDS,
        path=reverse("dev_idp:root"),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def sign_out(response) -> None:
    response.delete_cookie(COOKIE_NAME, path=reverse("dev_idp:root"), samesite="Lax")
