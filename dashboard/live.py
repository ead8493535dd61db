"""The live feed: Server-Sent Events from the hub, and the snapshot the page starts from."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse, ServerSentEvent

from dashboard.auth import Operator
from dashboard.deps import Hub
from dashboard.schemas import SnapshotOut

router = APIRouter(prefix="/api", tags=["live"], responses={401: {"description": "No login, or a wrong one"}})
RETRY_MS = 2000


@router.get("/live/snapshot", response_model=SnapshotOut, summary="Presence, reads per second, sensors now")
def get_snapshot(_: Operator, hub: Hub) -> SnapshotOut:
    return SnapshotOut.of_snapshot(hub.state.snapshot(time.time()))


@router.get(
    "/live",
    response_class=EventSourceResponse,
    summary="Live feed (Server-Sent Events)",
    description=(
        "Events: `snapshot` first (as /api/live/snapshot), then `tick` each second (presence, reads of the "
        "last second, sensors, gateways), `transaction`, `alert`, `inventory`, `visit`, `basket` (the "
        "business event's data) and `status` (a gateway went online or offline) as they happen. A client "
        "that falls far behind is disconnected and reconnects by itself."
    ),
)
async def get_live(_: Operator, hub: Hub) -> AsyncIterable[ServerSentEvent]:
    client = hub.subscribe()
    try:
        snapshot = SnapshotOut.of_snapshot(hub.state.snapshot(time.time()))
        yield ServerSentEvent(event="snapshot", data=snapshot.model_dump(mode="json"), retry=RETRY_MS)
        async for event in client.events():
            yield ServerSentEvent(event=event.kind, data=event.data)
    finally:
        hub.unsubscribe(client)
