"""Persist every wanted event before Slack gets its 200; the inbox worker processes it afterwards."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from tuning.capture.inbox import Inbox, is_wanted

# Set in the context of a request the inbox worker replays, so it reaches the listeners.
REPLAY_KEY = "tuneloop_inbox_id"


class PersistThenAck(AsyncMiddleware):
    """Answers every event_callback itself; the listeners see events only when the inbox worker replays them.

    A middleware class rather than a function: Bolt would inspect a function's signature on every request."""

    def __init__(self, inbox: Inbox, on_stored: Callable[[], None]) -> None:
        self._inbox = inbox
        self._on_stored = on_stored

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        body = req.body
        if body.get("type") != "event_callback" or REPLAY_KEY in req.context:
            return await next()
        event = body.get("event") or {}
        event_id = body.get("event_id")
        if event_id and is_wanted(event):
            raw = req.raw_body if req.mode == "http" else json.dumps(body)
            if await self._inbox.accept(str(event_id), str(event.get("type")), raw) is not None:
                self._on_stored()
        return BoltResponse(status=200, body="")
