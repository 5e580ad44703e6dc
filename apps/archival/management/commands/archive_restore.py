from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.archival.services import archive_restore
from apps.core.errors import AppError
from apps.warehouse.selectors import table_ref_parse


class Command(BaseCommand):
    help = "Restore archived Parquet rows with time in [--start, --end) back into their hypertable."

    def add_arguments(self, parser):
        parser.add_argument("--table", required=True, help="c1_weather, or qualified: analytics_data.c1_weather")
        parser.add_argument("--schema", default=settings.ANALYTICS_SCHEMA)
        parser.add_argument("--start", required=True, type=datetime.fromisoformat, help="ISO 8601, with time zone")
        parser.add_argument("--end", required=True, type=datetime.fromisoformat, help="ISO 8601, with time zone")
        parser.add_argument("--target", default=None, help="lakehouse target (LAKEHOUSE_TARGETS); default 'default'")

    def handle(self, *args, table, schema, start, end, target, **options):
        schema, table = table_ref_parse(table, schema=schema)  # a qualified name is not prefixed again
        try:
            result = archive_restore(
                table_schema=schema, table_name=table, range_start=start, range_end=end, target=target
            )
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{result.rows} rows restored into {result.table} from {len(result.files)} file(s).")
