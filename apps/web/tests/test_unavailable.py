"""A console page whose database cannot take the request now (overload: the
connection is not finished within the connect timeout) answers 503 with
Retry-After and a page that says to retry, not a 500."""

import pytest
from django.urls import reverse

from apps.core.tests.servers import silent_database

# The block below closes and reopens the default connection: no test transaction around it.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("page", ["web:home", "web:kpis", "web:objects"])
def test_a_page_the_database_cannot_serve_now_is_a_503_to_retry(console, page):
    with silent_database("default"):
        response = console.get(reverse(page))
    assert response.status_code == 503, response.content[:300]
    assert int(response["Retry-After"]) > 0
    html = response.content.decode()
    assert "Busy right now" in html and "Try again in" in html
    assert "127.0.0.1" not in html  # says what to do, not where the database is

    # The database answers again: the same page is served.
    assert console.get(reverse(page)).status_code == 200
