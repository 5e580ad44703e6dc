"""HTMX habits of the console's views, written once."""

from django.http import HttpRequest


def is_fragment(request: HttpRequest) -> bool:
    """Whether to answer with the page's fragment: an HTMX request that is not
    a boosted navigation (which wants the whole page)."""
    return bool(request.htmx and not request.htmx.boosted)
