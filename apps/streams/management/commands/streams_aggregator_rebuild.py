from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from apps.core.errors import AppError
from apps.core.selectors import client_id_for_code
from apps.streams.aggregator.services import aggregator_rebuild


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("needs a UTC offset")
    return moment


class Command(BaseCommand):
    help = (
        "Recompute a client's per-second telemetry aggregates from the raw readings from --since on, "
        "and reset the aggregator's Redis state for them (after Redis lost its data, say)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", required=True, help="the client's code")
        parser.add_argument(
            "--since", required=True, type=_moment, help="ISO 8601 with a UTC offset, e.g. 2026-03-31T00:00:00+00:00"
        )

    def handle(self, *args, client, since, **options):
        client_id = client_id_for_code(code=client)
        if client_id is None:
            raise CommandError(f"There is no client {client!r}.")
        try:
            result = aggregator_rebuild(client_id=client_id, since=since)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        except RedisError as exc:
            raise CommandError(f"Redis failed during the rebuild ({exc}); run it again (it is idempotent).") from exc
        self.stdout.write(
            f"{result.seconds} seconds recomputed from {result.since.isoformat()}; watermark "
            f"{result.watermark.isoformat()}; {result.reseeded} readings put back into Redis."
        )
