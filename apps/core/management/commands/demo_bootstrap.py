from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core.services import demo_bootstrap


class Command(BaseCommand):
    help = "Create the demo client and the demo admin user (password from AE_ADMIN_PASSWORD). Local demos only."

    def handle(self, *args, **options):
        result = demo_bootstrap(admin_password=settings.AE_ADMIN_PASSWORD)
        verb = "created" if result.created_user else "updated"
        self.stdout.write(f"demo client '{result.client_code}' ready; user '{result.username}' {verb}")
