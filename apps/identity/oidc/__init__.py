"""The relying party side of OpenID Connect for Azure AD (and any issuer laid
out like it): discovery and keys, token verification, the
mozilla-django-oidc backend and views, and DRF bearer authentication."""
