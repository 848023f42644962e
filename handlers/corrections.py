"""The "Correct this answer" shortcut and modal."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack_reader import WebApiReader
from handlers.tune import Spawn
from render import corrections as render
from render.ids import CORRECT_ANSWER_SHORTCUT, CORRECTION_BLOCK, CORRECTION_INPUT, CORRECTION_VIEW
from tuning.corrections import problem_with
from tuning.errors import TuningError
from tuning.services import Services


def register(app: AsyncApp, services: Services, spawn: Spawn) -> None:
    async def on_shortcut(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        await ack()
        channel = (shortcut.get("channel") or {}).get("id", "")
        reader = WebApiReader.from_context(context)
        message = reader.convert(shortcut.get("message") or {}, channel)
        try:
            if message is None:
                raise TuningError("Only answers can be corrected: pick the bot's answer or a reply in a thread.")
            draft = await services.corrections.draft(message, reader)
        except TuningError as error:
            await client.chat_postEphemeral(channel=channel, user=shortcut["user"]["id"], text=render.not_correctable(str(error)))
            return
        target = {"channel": draft.channel, "ts": draft.ts, "thread": message.thread_ts or ""}
        modal = render.correction_modal(original=draft.original, question=draft.question, fingerprint=draft.fingerprint, target=target)
        await client.views_open(trigger_id=shortcut["trigger_id"], view=modal)

    async def on_submit(ack: AsyncAck, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient,
                        context: AsyncBoltContext) -> None:
        target = json.loads(view.get("private_metadata") or "{}")
        text = view["state"]["values"][CORRECTION_BLOCK][CORRECTION_INPUT].get("value") or ""
        problem = problem_with(text, target.get("fp", ""))
        if problem:
            await ack(**render.field_error(problem))
            return
        user = body["user"]["id"]
        reader = WebApiReader.from_context(context)
        try:
            if "example_id" in target:
                example = await services.corrections.correct(int(target["example_id"]), corrector=user, text=text, reader=reader)
            else:
                example = await services.corrections.submit(
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
