"""After a 👎 (a click on the feedback buttons or a reaction): "What was wrong?", privately and optionally.

The voter gets an ephemeral message with quick reasons; a click on one stores it with the vote, and "Say
more…" opens a form for a reason and what the answer should have said (that fix becomes a correction draft).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack_io import slack_error
from handlers.slack_reader import WebApiReader
from render import feedback_reasons as render
from render.ids import (
    FEEDBACK_FIX,
    FEEDBACK_FIX_BLOCK,
    FEEDBACK_FIX_INPUT,
    FEEDBACK_REASON,
    FEEDBACK_REASON_BLOCK,
    FEEDBACK_REASON_INPUT,
    FEEDBACK_REASON_VIEW,
)
from render.words import slack_words
from tuning.capture.feedback_reasons import FeedbackReasons
from tuning.errors import TuningError

log = logging.getLogger(__name__)
_TARGET = re.compile(r"(?P<channel>[CDG][A-Z0-9]{2,})\|(?P<ts>\d{1,16}\.\d{1,9})")


async def ask_why(reasons: FeedbackReasons, client: AsyncWebClient, *, channel: str, ts: str, voter: str) -> None:
    """Offer the voter, and only them, the quick reasons under the answer they voted 👎 on."""
    blocks, text = render.ask_blocks(channel, ts)
    try:
        await client.chat_postEphemeral(
            channel=channel, user=voter, text=text, blocks=blocks, thread_ts=await reasons.thread_of(channel, ts)
        )
    except SlackApiError as error:  # optional: a vote needs no answer
        log.info("could not ask %s why (%s)", voter, slack_error(error))


def register(app: AsyncApp, reasons: FeedbackReasons) -> None:
    async def on_reason(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        await ack()
        target = _TARGET.fullmatch(str(action.get("value") or ""))
        reason = str(action.get("action_id", "")).partition(":")[2]
        if target is None:
            return
        try:
            saved = await reasons.record(
                channel=target["channel"],
                ts=target["ts"],
                voter=body["user"]["id"],
                reason=reason,
                fix=None,
                reader=WebApiReader.from_context(context),
            )
        except TuningError as error:
            await respond(text=slack_words(str(error)), replace_original=True)
            return
        blocks, text = render.noted_with_more(saved.reason, target["channel"], target["ts"])
        await respond(text=text, blocks=blocks, replace_original=True)

    async def on_more(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        target = _TARGET.fullmatch(str(action.get("value") or ""))
        if target is not None and body.get("trigger_id"):
            await client.views_open(
                trigger_id=body["trigger_id"], view=render.reason_form(target["channel"], target["ts"])
            )

    async def on_submit(
        ack: AsyncAck, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        target = _TARGET.fullmatch(str(view.get("private_metadata") or ""))
        values = (view.get("state") or {}).get("values") or {}
        picked = ((values.get(FEEDBACK_REASON_BLOCK) or {}).get(FEEDBACK_REASON_INPUT) or {}).get("selected_option")
        fix = ((values.get(FEEDBACK_FIX_BLOCK) or {}).get(FEEDBACK_FIX_INPUT) or {}).get("value")
        if target is None or not isinstance(picked, dict):
            await ack(response_action="errors", errors={FEEDBACK_REASON_BLOCK: "Pick a reason."})
            return
        await ack()
        user = body["user"]["id"]
        try:
            saved = await reasons.record(
                channel=target["channel"],
                ts=target["ts"],
                voter=user,
                reason=str(picked.get("value")),
                fix=fix if isinstance(fix, str) else None,
                reader=WebApiReader.from_context(context),
            )
            text = render.noted(saved.reason, saved.correction_state)[1]
        except TuningError as error:
            text = f"Not saved: {slack_words(str(error))}"
        try:
            await client.chat_postEphemeral(
                channel=target["channel"],
                user=user,
                text=text,
                thread_ts=await reasons.thread_of(target["channel"], target["ts"]),
            )
        except SlackApiError:
            await client.chat_postMessage(channel=user, text=text)

    app.action(re.compile(f"^{FEEDBACK_REASON}:[a-z]+$"))(on_reason)
    app.action(FEEDBACK_FIX)(on_more)
    app.view(FEEDBACK_REASON_VIEW)(on_submit)
