"""`manage.py run_consumers [--group G ...]`: apply bus events with the
registered handlers until SIGTERM/SIGINT (docs/events.md)."""

import logging
import os
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from apps.messaging.consumer import consumers_run, default_consumer_name
from apps.messaging.registry import group_names, handlers_discover, registrations

logger = logging.getLogger("apps.messaging.consumer")


class Command(BaseCommand):
    help = (
        "Run the event bus consumers: one worker per consumer group (all registered groups, or --group), "
        "and the outbox relay. "
        "SIGTERM or SIGINT finishes the message in hand and exits 0; a second one exits at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--group", action="append", default=[], dest="groups", help="a consumer group to run (repeat; default all)"
        )
        parser.add_argument("--consumer", help="this consumer's name within its groups (default: <host>-<pid>)")
        parser.add_argument("--list", action="store_true", help="list the groups and their handlers, then exit")
        parser.add_argument(
            "--no-outbox-relay",
            action="store_false",
            dest="outbox_relay",
            help="do not run the outbox relay in this process (it publishes events written by transactions)",
        )

    def handle(self, *args, **options):
        handlers_discover()
        known = group_names()
        if options["list"]:
            for group in known:
                self.stdout.write(group)
                for registration in registrations(group=group):
                    self.stdout.write(f"  {registration.pattern:40} {registration.name}")
            return
        groups = options["groups"] or known
        unknown = sorted(set(groups) - set(known))
        if unknown:
            raise CommandError(
                f"No handler is registered in the group(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}."
            )
        if not groups:
            raise CommandError("No event handlers are registered (see docs/events.md, 'Writing a handler').")

        stop = threading.Event()

        def on_signal(signum, frame):
            if stop.is_set():
                logger.warning("second %s: exiting without finishing", signal.Signals(signum).name)
                os._exit(1)
            logger.info("%s received: finishing the message in hand", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        consumer = options["consumer"] or default_consumer_name()
        logger.info("running consumers", extra={"groups": sorted(groups), "consumer": consumer})
        stats = consumers_run(groups=sorted(groups), stop=stop, consumer=consumer, outbox_relay=options["outbox_relay"])
        logger.info("consumers stopped", extra={"stats": {group: dict(counts) for group, counts in stats.items()}})
