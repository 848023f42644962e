"""👍 and 👎: votes on answers, as reactions or as clicks on the feedback buttons under an answer."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.feedback_reasons import ask_why
from handlers.slack_reader import WebApiReader
from render.ids import ANSWER_FEEDBACK, FEEDBACK_DOWN, FEEDBACK_UP
from tuning.capture.examples import FEEDBACK_BUTTONS, Capture, vote_direction
from tuning.capture.feedback_reasons import FeedbackReasons
from tuning.values import VoteEvent


def register(app: AsyncApp, capture: Capture, reasons: FeedbackReasons) -> None:
    async def thumbs_down(vote: VoteEvent, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        """A 👎 that counted: ask why (privately, optionally)."""
        if (
            vote.added
            and (vote.direction or vote_direction(vote.reaction)) == -1
            and vote.voter not in (context.bot_user_id, vote.item_user)
        ):
            await ask_why(
                reasons,
                client,
                channel=vote.channel,
                ts=await capture.canonical_ts(vote.channel, vote.ts),
                voter=vote.voter,
            )

    async def on_reaction(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        item = event.get("item") or {}
        if item.get("type") != "message" or not event.get("user") or not item.get("ts"):
            return
        vote = VoteEvent(
            channel=item.get("channel", ""),
            ts=item["ts"],
            voter=event["user"],
            reaction=event.get("reaction", ""),
            added=event.get("type") == "reaction_added",
            event_ts=str(event.get("event_ts", "")),
            item_user=event.get("item_user"),
        )
        await capture.on_vote(vote, WebApiReader.from_context(context))
        await thumbs_down(vote, context, client)

    async def on_feedback(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        await ack()
        direction = {FEEDBACK_UP: 1, FEEDBACK_DOWN: -1}.get(action.get("value") or "")
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if direction is None or not channel or not message.get("ts"):
            return
        # Slack sends one payload per click and none when a button is unselected: the newest click stands.
        vote = VoteEvent(
            channel=channel,
            ts=message["ts"],
            voter=body["user"]["id"],
            reaction=FEEDBACK_BUTTONS,
            added=True,
            event_ts=str(action.get("action_ts") or ""),
            item_user=message.get("user"),
            direction=direction,
        )
        await capture.on_vote(vote, WebApiReader.from_context(context))
        await thumbs_down(vote, context, client)

    app.event("reaction_added")(on_reaction)
    app.event("reaction_removed")(on_reaction)
    app.action(ANSWER_FEEDBACK)(on_feedback)
