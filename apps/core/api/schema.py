"""OpenAPI (drf-spectacular) extensions for the project's own classes."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class JWTSubclassScheme(SimpleJWTScheme):
    """A JWTAuthentication subclass of ours (one that also checks revocation,
    say) is the same Bearer JWT scheme in the schema. Without this,
    drf-spectacular warns (W001) for every view it guards, and
    `manage.py check --deploy` is no longer clean."""

    match_subclasses = True
    priority = -1
