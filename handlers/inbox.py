"""Persist every wanted event before Slack gets its 200; the inbox worker processes it afterwards."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from tuning.inbox import Inbox, is_wanted

# Set in the context of a request the inbox worker replays, so it reaches the listeners.
REPLAY_KEY = "tuneloop_inbox_id"


def inbox_middleware(inbox: Inbox, on_stored: Callable[[], None]):
    async def persist_then_ack(
        req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        if body.get("type") != "event_callback" or REPLAY_KEY in req.context:
            return await next()
        event = body.get("event") or {}
        event_id = body.get("event_id")
        if event_id and is_wanted(event):
            raw = req.raw_body if req.mode == "http" else json.dumps(body)
            if await inbox.accept(str(event_id), str(event.get("type")), raw) is not None:
                on_stored()
        return BoltResponse(status=200, body="")

    return persist_then_ack
