import pytest
from django.test import RequestFactory

from apps.core.client_address import client_address


def _request(forwarded: str | None, remote: str = "10.0.0.1"):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, None, "10.0.0.1"),
        (0, "203.0.113.5", "10.0.0.1"),  # no proxies trusted: the header is the client's word only
        (1, None, "10.0.0.1"),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "1.2.3.4, 203.0.113.5", "203.0.113.5"),  # the left entry is what the client wrote
        (2, "1.2.3.4, 203.0.113.5, 10.1.1.1", "203.0.113.5"),
        (2, "203.0.113.5", "10.0.0.1"),  # fewer hops than proxies: nothing is vouched for
        (1, "not-an-address", "10.0.0.1"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_only_the_hops_of_trusted_proxies_are_read(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_address(_request(forwarded)) == expected
