"""The dataclasses identity exchanges with other apps."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DevProviderSeeded:
    """One identity provider `manage.py idp_seed` made ready against the development provider."""

    provider_name: str
    tenant_id: str
    application_id: str
    authority: str
    redirect_uris: tuple[str, ...]
    created_provider: bool
    created_application: bool
    secret_issued: bool  # a new client secret was issued (and stored encrypted on the provider)
