from django.core.management.base import BaseCommand, CommandError

from apps.core.crypto import kek_current_id
from apps.core.secret_fields import secrets_rotate


class Command(BaseCommand):
    help = (
        "Rewrap every stored secret (the fields registered in apps.core.secret_fields) under the newest key of "
        "AE_SECRET_KEKS, re-encrypting secrets of the legacy Fernet format. Idempotent, safe while the "
        "application serves; once it reports 0 unreadable, older keys can be removed (docs/security.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows read per query (default 500)")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.stdout.write(f"rewrapping stored secrets under key {kek_current_id()!r}")
        counts = secrets_rotate(batch_size=options["batch_size"], progress=lambda c: self.stdout.write(c.line()))
        unreadable = sum(len(c.unreadable) for c in counts)
        done = sum(c.rewrapped + c.reencrypted for c in counts)
        self.stdout.write(f"{done} secrets rotated, {unreadable} unreadable")
        if unreadable:
            detail = "; ".join(
                f"{c.field.model}.{c.field.field} pk {', '.join(str(pk) for pk in c.unreadable[:10])}"
                for c in counts
                if c.unreadable
            )
            raise CommandError(
                f"{unreadable} stored secrets could not be decrypted with the listed keys ({detail}): keep the old "
                "keys until they are fixed or deleted."
            )
