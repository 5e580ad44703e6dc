"""Any 429 or 503, whoever made it (a page rendering an error's status, a
view of a dependency that is down), says when to try again; an estimate
already set is kept, and other statuses get none."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from apps.core.errors import DEFAULT_RETRY_AFTER_SECONDS
from apps.core.middleware import RetryAfterMiddleware


@pytest.mark.parametrize(
    ("status", "given", "expected"),
    [
        (503, None, str(DEFAULT_RETRY_AFTER_SECONDS)),
        (429, None, str(DEFAULT_RETRY_AFTER_SECONDS)),
        (503, "30", "30"),
        (409, None, None),
        (200, None, None),
    ],
)
def test_a_try_later_status_always_carries_retry_after(status, given, expected):
    def view(request):
        response = HttpResponse("page", status=status)
        if given:
            response["Retry-After"] = given
        return response

    response = RetryAfterMiddleware(view)(RequestFactory().get("/console/"))
    assert response.get("Retry-After") == expected
    assert response.status_code == status


def test_it_is_installed_outside_the_page_and_api_middleware(settings):
    assert settings.MIDDLEWARE.index("apps.core.middleware.RetryAfterMiddleware") < settings.MIDDLEWARE.index(
        "apps.core.middleware.ServiceUnavailableMiddleware"
    )
