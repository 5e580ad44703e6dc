"""Tasks of the resilience tests, loaded by their worker subprocesses
(`celery worker --include tests.resilience.tasks`): they report through
files, so a test sees them start and finish without any Redis of its own."""

import os
import time
from pathlib import Path

from celery import Celery, shared_task


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


class HeldTasks:
    """The test's side of `resilience.hold`: sends tasks to a broker (through a
    Celery app that is not made current: later tests' tasks must not follow it)
    and reads their markers in `folder`."""

    def __init__(self, broker_url: str, folder: Path) -> None:
        folder.mkdir(exist_ok=True)
        self.folder = folder
        self.producer = Celery("resilience-producer", broker=broker_url, set_as_current=False)

    def send(self, name: str) -> None:
        self.producer.send_task("resilience.hold", args=[str(self.folder), name])

    def started(self, *names: str) -> bool:
        return all((self.folder / f"{name}.started").exists() for name in names)

    def finished(self, *names: str) -> bool:
        return all((self.folder / f"{name}.finished").exists() for name in names)
