"""HTMX habits of the console's views, written once."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

from apps.core.errors import NotFound


def is_fragment(request: HttpRequest) -> bool:
    """Whether to answer with the page's fragment: an HTMX request that is not
    a boosted navigation (which wants the whole page)."""
    return bool(request.htmx and not request.htmx.boosted)


def read_or_404(read: Callable[..., Any], **kwargs: Any) -> Any:
    """A selector's answer, or the console's 404 page when it raises NotFound
    (another client's object, or none)."""
    try:
        return read(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def done(request: HttpRequest, url: str, message: str) -> HttpResponse:
    """After a successful POST: a message, then to `url` (HTMX follows a client redirect)."""
    messages.success(request, message)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
