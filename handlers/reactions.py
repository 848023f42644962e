"""👍 and 👎: votes on answers."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from handlers.slack_reader import WebApiReader
from tuning.capture import Capture
from tuning.types import VoteEvent


def register(app: AsyncApp, capture: Capture) -> None:
    async def on_reaction(event: dict[str, Any], context: AsyncBoltContext) -> None:
        item = event.get("item") or {}
        if item.get("type") != "message" or not event.get("user") or not item.get("ts"):
            return
        vote = VoteEvent(
            channel=item.get("channel", ""), ts=item["ts"], voter=event["user"], reaction=event.get("reaction", ""),
            added=event.get("type") == "reaction_added", event_ts=str(event.get("event_ts", "")),
            item_user=event.get("item_user"),
        )
        await capture.on_vote(vote, WebApiReader.from_context(context))

    app.event("reaction_added")(on_reaction)
    app.event("reaction_removed")(on_reaction)
