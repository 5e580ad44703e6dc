import pymysql
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import AppError
from apps.core.selectors import client_id_for_code
from apps.ingestion.services.demo import CONNECTION, JOB, demo_source_ensure


class Command(BaseCommand):
    help = (
        "The demo's data source: a policy administration database on the local MariaDB "
        "(SOURCES_DEMO_DATABASE), a MySQL connection to it and a daily job onto policy_snapshot. "
        "Idempotent. Local demos only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", default="demo", help="client code (default: demo)")
        parser.add_argument("--user", default="admin", help="username recorded as the owner")

    def handle(self, *args, **options):
        client_id = client_id_for_code(code=options["client"])
        if client_id is None:
            raise CommandError(f"No client with code {options['client']!r}.")
        user = get_user_model().objects.filter(username=options["user"]).first()
        try:
            outcome = demo_source_ensure(client_id=client_id, user=user)
        except (AppError, pymysql.MySQLError, OSError) as exc:
            # The demo runs without it (MariaDB not started, say): say so and go on.
            self.stdout.write(f"demo source: skipped: {getattr(exc, 'message', exc)}")
            return
        made = ", ".join(outcome.made) or "nothing new"
        rows = f"{outcome.rows_written} rows written" if outcome.rows_written else "rows already there"
        self.stdout.write(
            f"demo source: MariaDB database '{outcome.database}' ({rows}); connection '{CONNECTION}', "
            f"job '{JOB}' (daily at 02:00 UTC); made: {made}"
        )
        if outcome.discovery:
            self.stdout.write(f"demo source: discovery failed: {outcome.discovery}")
