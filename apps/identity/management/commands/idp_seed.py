from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.identity.services.dev_provider import DevProviderSeedError, dev_provider_seed


class Command(BaseCommand):
    help = (
        "Make a client sign in through the development OIDC provider (docs/identity.md): its development "
        "identity providers (Contoso and Fabrikam unless it has some), the provider's application with the "
        "client's redirect URIs, the client secret stored encrypted. Idempotent; prints what it did."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", default="demo", help="client code (default: demo)")
        parser.add_argument(
            "--base-url", default=None, help="where the provider is reached (default: AE_DEV_IDP_BASE_URL)"
        )
        parser.add_argument(
            "--redirect-uri",
            action="append",
            dest="redirect_uris",
            help="a sign-in callback URL to register (repeatable; default: AE_DEV_IDP_REDIRECT_URIS)",
        )

    def handle(self, *args, **options):
        if not settings.AE_DEV_IDP_ENABLED:
            raise CommandError("the development provider is off (AE_DEV_IDP_ENABLED); nothing seeded")
        try:
            seeded = dev_provider_seed(
                client_code=options["client"],
                base_url=options["base_url"] or settings.AE_DEV_IDP_BASE_URL,
                redirect_uris=options["redirect_uris"] or settings.AE_DEV_IDP_REDIRECT_URIS,
            )
        except DevProviderSeedError as error:
            raise CommandError(str(error)) from error
        for row in seeded:
            what = ", ".join(
                word
                for word, done in (
                    ("provider created", row.created_provider),
                    ("application created", row.created_application),
                    ("new client secret stored", row.secret_issued),
                )
                if done
            )
            self.stdout.write(
                f"development provider '{row.provider_name}': tenant {row.tenant_id}, application "
                f"{row.application_id}, authority {row.authority}, redirect URIs {' '.join(row.redirect_uris)}"
                f" ({what or 'unchanged'})"
            )
