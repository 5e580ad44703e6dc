from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.core.services import demo_bootstrap


class Command(BaseCommand):
    help = (
        "Create the demo client and the demo admin user (password from AE_ADMIN_PASSWORD), then the "
        "demo scenarios' data (simulation_demo), the demo data source (sources_demo), and (AE_DEV_IDP_ENABLED) "
        "the development sign-in provider (idp_seed). Local demos only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-data", action="store_true", help="only the client and the user")

    def handle(self, *args, **options):
        result = demo_bootstrap(admin_password=settings.AE_ADMIN_PASSWORD)
        verb = "created" if result.created_user else "updated"
        self.stdout.write(f"demo client '{result.client_code}' ready; user '{result.username}' {verb}")
        # The development OIDC provider for the demo client (docs/identity.md), by name like the data below.
        if settings.AE_DEV_IDP_ENABLED:
            call_command("idp_seed", client=result.client_code, stdout=self.stdout)
        # By name, not by import: the demo data generator sits layers above core.
        if not options["no_data"] and apps.is_installed("apps.simulation"):
            call_command("simulation_demo", client=result.client_code, user=result.username, stdout=self.stdout)
        # A policy administration database on the local MariaDB, its connection and a daily job (after the
        # scenarios: the job loads into their policy_snapshot).
        if not options["no_data"] and apps.is_installed("apps.ingestion"):
            call_command("sources_demo", client=result.client_code, user=result.username, stdout=self.stdout)
