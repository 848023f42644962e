"""Slack's message_changed and message_deleted, wherever they happen, reach privacy handling (README, "Privacy").

Bolt's assistant middleware acknowledges and drops these events in a DM thread (the AI pane's threads among
them) before any listener sees them (slack_bolt 1.30, middleware/assistant/async_assistant.py:
is_other_message_sub_event_in_assistant_thread). So this middleware, registered before the assistant, takes
them in channels, DMs and assistant threads alike; nothing after it needs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from tuning.capture.privacy import Privacy


class EditsAndDeletions(AsyncMiddleware):
    def __init__(self, privacy: Privacy) -> None:
        self._privacy = privacy

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        event = req.body.get("event") if req.body.get("type") == "event_callback" else None
        if isinstance(event, dict) and event.get("type") == "message" and await edited_or_deleted(self._privacy, event):
            return BoltResponse(status=200, body="")
        return await next()


async def edited_or_deleted(privacy: Privacy, event: dict[str, Any]) -> bool:
    """Update (message_changed) or erase (message_deleted) what Tuneloop holds of that message."""
    channel = str(event.get("channel", ""))
    previous = event.get("previous_message")
    if event.get("subtype") == "message_deleted" and event.get("deleted_ts"):
        said = previous.get("text") if isinstance(previous, dict) else None
        await privacy.message_deleted(channel, str(event["deleted_ts"]), str(said) if said else None)
        return True
    edited = event.get("message")
    if event.get("subtype") == "message_changed" and isinstance(edited, dict) and edited.get("ts"):
        await privacy.message_changed(channel, str(edited["ts"]), str(edited.get("text") or ""))
        return True
    return False
