"""A run's progress reaches the browsers of its client over /ws/ (the real
ASGI stack and Redis channel layer), at most every PUSH_STEP."""

import asyncio
import itertools
from datetime import date

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.core.tests.factories import MembershipFactory
from apps.simulation import manager, services

pytestmark = pytest.mark.django_db(transaction=True)


async def _subscribe(user, channel: str) -> tuple[WebsocketCommunicator, dict]:
    """A socket of `user` that asked for `channel`, and the answer."""
    ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(user)}")
    assert (await ws.connect())[0]
    await ws.send_json_to({"action": "subscribe", "channel": channel})
    while True:
        answer = await ws.receive_json_from(timeout=3)
        if answer.get("type") in ("subscribed", "error"):
            return ws, answer


async def _events(ws, until_status: str, timeout: float = 30.0) -> list[dict]:
    events = []
    deadline = asyncio.get_running_loop().time() + timeout
    while not events or events[-1]["status"] != until_status:
        message = await ws.receive_json_from(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
        if "event" in message:
            events.append(message["event"])
    return events


def test_progress_events_reach_the_runs_channel_and_no_other_client(analyst, monkeypatch):
    monkeypatch.setattr(manager, "BATCH_ROWS", 1_000)  # ~15 batches: many progress steps
    run = services.run_create(
        client_id=analyst.client_id,
        scenario="health_retention",
        start=date(2026, 3, 2),
        end=date(2026, 3, 16),
        params={"period": "week", "lobs": {"Health": {"start": 1000, "end": 950, "new": 50}}},
        user=analyst.user,
    )
    stranger = MembershipFactory(is_default=True)

    async def scenario():
        mine, answer = await _subscribe(analyst.user, run.channel)
        assert answer == {"type": "subscribed", "channel": run.channel}
        # Another client's member cannot follow the run (nor would its events reach them).
        theirs, refused = await _subscribe(stranger.user, run.channel)
        assert refused["error"]["code"] == "unknown_channel"
        assert f"no simulation run {run.pk}" in refused["error"]["message"]
        await database_sync_to_async(services.run_execute)(run_id=run.pk)
        events = await _events(mine, "succeeded")
        for ws in (mine, theirs):
            await ws.disconnect()
        return events

    events = async_to_sync(scenario)()
    assert events[0]["status"] == "running" and events[0]["progress"] == 0.0
    assert {e["id"] for e in events} == {run.pk}
    last = events[-1]
    assert (last["status"], last["progress"], last["error"]) == ("succeeded", 1.0, "")
    assert last["rows_written"] == last["rows_planned"] > 14_000
    progress = [e["progress"] for e in events if e["status"] == "running"]
    assert progress == sorted(progress) and len(progress) >= 5
    # At most one push per 5% of progress, not one per batch.
    steps = [b - a for a, b in itertools.pairwise(progress)]
    assert all(step >= services.PUSH_STEP for step in steps)
