"""A run's progress events for browsers: ephemeral pushes on the realtime
channel `simulation.run_<id>` of the run's client (docs/simulation.md). The
run itself holds the durable state; a browser that missed events reads it."""

import logging
import re
from typing import Any

from apps.core.errors import AppError
from apps.core.realtime import ChannelRequest, realtime_publish
from apps.simulation.models import SimulationRun

logger = logging.getLogger(__name__)

CHANNEL_FAMILY = "simulation"
_RUN_CHANNEL = re.compile(r"^simulation\.run_(\d{1,18})$")


def run_channel_authorize(request: ChannelRequest) -> None:
    """`simulation.run_<id>`: any member of the client may follow one of the
    client's runs (as any member may read it over the API)."""
    match = _RUN_CHANNEL.match(request.channel)
    if match is None:
        raise AppError(
            "Simulation channels are 'simulation.run_<run id>'.",
            code="unknown_channel",
            details={"channel": request.channel},
        )
    if not SimulationRun.objects.filter(client_id=request.client_id, pk=int(match.group(1))).exists():
        raise AppError(
            f"There is no simulation run {match.group(1)} in this client to follow.",
            code="unknown_channel",
            details={"channel": request.channel},
        )


def run_event(run: SimulationRun) -> dict[str, Any]:
    return {
        "type": "simulation.run",
        "id": run.pk,
        "scenario": run.scenario,
        "status": run.status,
        "progress": run.progress,
        "rows_written": run.rows_written,
        "rows_planned": run.rows_planned,
        "error": run.error,
    }


def run_publish(run: SimulationRun) -> None:
    """Push the run's state to its client's browsers following it. Best
    effort: a run does not fail because Redis blinked."""
    try:
        realtime_publish(client_id=run.client_id, channel=run.channel, event=run_event(run))
    except Exception:
        logger.warning("simulation progress not pushed", exc_info=True, extra={"run": run.pk})
