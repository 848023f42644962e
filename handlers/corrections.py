"""The "Correct this answer" shortcut and modal."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack_io import slack_error
from handlers.slack_reader import WebApiReader
from handlers.tune import Spawn
from render import corrections as render
from render.ids import CORRECT_ANSWER_SHORTCUT, CORRECTION_BLOCK, CORRECTION_INPUT, CORRECTION_VIEW
from tuning.corrections import Corrections
from tuning.corrections import problem_with
from tuning.errors import TuningError


def register(app: AsyncApp, corrections: Corrections, spawn: Spawn) -> None:
    async def on_shortcut(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext,
                          respond: AsyncRespond | None) -> None:
        await ack()
        channel = (shortcut.get("channel") or {}).get("id", "")
        reader = WebApiReader.from_context(context)
        message = reader.convert(shortcut.get("message") or {}, channel)

        async def tell(text: str) -> None:
            try:
                await client.chat_postEphemeral(channel=channel, user=shortcut["user"]["id"], text=text)
            except SlackApiError:  # not a member of that channel: response_url reaches the person anyway
                if respond is None:
                    raise
                await respond(response_type="ephemeral", replace_original=False, text=text)

        try:
            if message is None:
                raise TuningError("Only answers can be corrected: pick the bot's answer or a reply in a thread.")
            draft = await corrections.draft(message, reader)
        except TuningError as error:
            await tell(render.not_correctable(str(error)))
            return
        target = {"channel": draft.channel, "ts": draft.ts, "thread": message.thread_ts or ""}
        modal = render.correction_modal(original=draft.original, question=draft.question, fingerprint=draft.fingerprint, target=target)
        try:
            await client.views_open(trigger_id=shortcut["trigger_id"], view=modal)
        except SlackApiError as error:  # e.g. the trigger expired (3 s) while Slack was slow
            reason = render.modal_not_opened(slack_error(error), opened_with="Correct this answer")
            await tell(render.not_correctable(reason))

    async def on_submit(ack: AsyncAck, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient,
                        context: AsyncBoltContext) -> None:
        target = _target(view)
        if target is None:
            await ack(**render.field_error(render.OUT_OF_DATE))
            return
        text = _submitted_text(view)
        problem = problem_with(text, target.get("fp", ""))
        if problem:
            await ack(**render.field_error(problem))
            return
        user = body["user"]["id"]
        reader = WebApiReader.from_context(context)
        try:
            if "example_id" in target:
                example = await corrections.correct(int(target["example_id"]), corrector=user, text=text, reader=reader)
            else:
                example = await corrections.submit(
                    channel=target["channel"], ts=target["ts"], corrector=user, text=text, reader=reader
                )
        except TuningError as error:
            await ack(**render.field_error(str(error)))
            return
        await ack()  # only now: the correction is committed
        spawn(client.chat_postEphemeral(
            channel=example.channel, user=user, thread_ts=target.get("thread") or None, text=render.saved(example.state)
        ))

    app.shortcut(CORRECT_ANSWER_SHORTCUT)(on_shortcut)
    app.view(CORRECTION_VIEW)(on_submit)


_TS = re.compile(r"\d{1,16}\.\d{1,9}")


def _target(view: dict[str, Any]) -> dict[str, Any] | None:
    """What the modal corrects, from the private_metadata Tuneloop wrote; None if it is not that."""
    try:
        target = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return None
    if not isinstance(target, dict) or not isinstance(target.get("fp", ""), str):
        return None
    if "example_id" in target:
        example_id = target["example_id"]
        return target if type(example_id) is int and 0 < example_id < 2**63 else None
    fields_ok = isinstance(target.get("channel"), str) and isinstance(target.get("thread", ""), str)
    return target if fields_ok and isinstance(target.get("ts"), str) and _TS.fullmatch(target["ts"]) else None


def _submitted_text(view: dict[str, Any]) -> str:
    node: Any = view
    for key in ("state", "values", CORRECTION_BLOCK, CORRECTION_INPUT, "value"):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, str) else ""
