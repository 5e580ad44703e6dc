from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import AppError
from apps.core.selectors import client_id_for_code
from apps.ontology.services.artifacts import artifacts_generate

MODELS_FILE = "models.py"
DDL_FILE = "ddl.sql"


class Command(BaseCommand):
    help = (
        "Generate Pydantic v2 models (models.py) and table DDL (ddl.sql) from a client's ontology, "
        "into --output DIR or to stdout; --apply also runs the DDL (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", required=True, help="the client's code")
        parser.add_argument(
            "--entity", action="append", default=[], dest="entities", help="an entity code (repeat; default: all)"
        )
        parser.add_argument("--output", type=Path, help="directory for models.py and ddl.sql (default: stdout)")
        parser.add_argument("--apply", action="store_true", help="also run the DDL against the database")

    def handle(self, *args, **options):
        client_id = client_id_for_code(code=options["client"])
        if client_id is None:
            raise CommandError(f"No client with code {options['client']!r}.")
        try:
            artifacts = artifacts_generate(
                client_id=client_id, entity_codes=options["entities"], apply=options["apply"]
            )
        except AppError as exc:
            raise CommandError(exc.message) from exc

        output: Path | None = options["output"]
        # With the artifacts on stdout, notices go to stderr so the output stays pipeable.
        notices = self.stderr if output is None else self.stdout
        if output is None:
            self.stdout.write(f"# ---- {MODELS_FILE}\n{artifacts.pydantic}", ending="")
            self.stdout.write(f"-- ---- {DDL_FILE}\n{artifacts.ddl_script()}", ending="")
        else:
            try:
                output.mkdir(parents=True, exist_ok=True)
                (output / MODELS_FILE).write_text(artifacts.pydantic, encoding="utf-8")
                (output / DDL_FILE).write_text(artifacts.ddl_script(), encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot write to {output}: {exc.strerror or exc}.") from exc
            notices.write(f"wrote {output / MODELS_FILE} and {output / DDL_FILE} ({len(artifacts.ddl)} entities)")
        if artifacts.applied:
            notices.write(f"applied the DDL of {len(artifacts.ddl)} entities")
