"""Middleware of the test settings only (analytics_engine/settings/test.py).

The servers tests start as subprocesses (daphne: `asgi_server`) live across
tests, and the flush between transactional tests recreates the content types
under new ids. A process that cached them (django-reversion looks them up to
record a version; the admin and version history pages to read one) would go
on writing ids that no longer exist, failing whichever test next saves a
definition through the server. Forgetting the cache at each request keeps
the server's view of content types as fresh as the test process's."""

from django.contrib.contenttypes.models import ContentType


def content_types_fresh(get_response):
    def middleware(request):
        ContentType.objects.clear_cache()
        return get_response(request)

    return middleware
