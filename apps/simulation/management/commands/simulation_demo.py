from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.selectors import client_id_for_code
from apps.simulation.services import demo_data_load


class Command(BaseCommand):
    help = (
        "Generate the demo scenarios (Health Retention, Sales Growth) for a client, in-process, "
        "through the ScenarioManager. Skips a scenario whose entities already hold data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", default="demo", help="client code (default: demo)")
        parser.add_argument("--user", default="admin", help="username recorded as the runs' creator")

    def handle(self, *args, **options):
        client_id = client_id_for_code(code=options["client"])
        if client_id is None:
            raise CommandError(f"No client with code {options['client']!r}.")
        user = get_user_model().objects.filter(username=options["user"]).first()
        for outcome in demo_data_load(client_id=client_id, user=user):
            run = f" (run {outcome.run_id})" if outcome.run_id else ""
            self.stdout.write(f"demo data {outcome.scenario}: {outcome.status}{run}: {outcome.detail}")
