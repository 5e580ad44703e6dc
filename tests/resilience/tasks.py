"""Tasks of the resilience tests, loaded by their worker subprocesses
(`celery worker --include tests.resilience.tasks`): they report through
files, so a test sees them start and finish without any Redis of its own."""

import os
import time
from pathlib import Path

from celery import shared_task


@shared_task(name="resilience.hold", acks_late=True)
def hold(folder: str, name: str, release_after: float = 120.0) -> None:
    """Mark `name` started, wait until `folder/release` exists (at most
    `release_after` seconds), then mark it finished. Every run appends its pid."""
    root = Path(folder)
    with open(root / f"{name}.started", "a") as marker:
        marker.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + release_after
    while not (root / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(root / f"{name}.finished", "a") as marker:
        marker.write(f"{os.getpid()}\n")
