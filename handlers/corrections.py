"""The "Correct this answer" shortcut and modal."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.inbox import REPLAY_KEY
from handlers.slack_io import slack_error
from handlers.slack_reader import WebApiReader
from render import corrections as render
from render.ids import ANSWER_CORRECT, CORRECT_ANSWER_SHORTCUT, CORRECTION_BLOCK, CORRECTION_INPUT, CORRECTION_VIEW
from render.words import slack_words
from tuning.capture.corrections import Corrections, problem_with
from tuning.capture.inbox import Inbox
from tuning.errors import TuningError

VIEW_SUBMISSION = "view_submission"


def register(app: AsyncApp, corrections: Corrections, inbox: Inbox, on_stored: Callable[[], None]) -> None:
    async def on_open(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        """The shortcut, or the button under an answer: the form opens at once (a trigger lives 3 s), then fills in."""
        await ack()
        channel = (body.get("channel") or {}).get("id", "")
        user = body["user"]["id"]
        try:
            opened = await client.views_open(trigger_id=body["trigger_id"], view=render.loading_modal())
        except SlackApiError as error:  # e.g. the trigger expired while Slack was slow
            reason = render.modal_not_opened(slack_error(error), opened_with="Correct this answer")
            await _tell(client, channel, user, render.not_correctable(reason))
            return
        view_id = opened["view"]["id"]
        reader = WebApiReader.from_context(context)
        message = reader.convert(body.get("message") or {}, channel)
        try:
            if message is None:
                raise TuningError("Only answers can be corrected: pick the bot's answer or a reply in a thread.")
            draft = await corrections.draft(message, reader)
        except TuningError as error:
            await client.views_update(view_id=view_id, view=render.notice_modal(render.not_correctable(str(error))))
            return
        target: dict[str, object] = {"channel": draft.channel, "ts": draft.ts, "thread": message.thread_ts or ""}
        modal = render.correction_modal(
            original=draft.original, question=draft.question, fingerprint=draft.fingerprint, target=target
        )
        await client.views_update(view_id=view_id, view=modal)

    async def on_submit(
        ack: AsyncAck, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """Checks that need no Slack call answer inside the form. The submission is then stored and acknowledged;
        the inbox worker replays it to save the correction, because reading the thread or refreshing members can
        wait on rate limits past Slack's 3 s, and what was acknowledged must survive a restart."""
        if REPLAY_KEY in context:
            await ack()
            await _store(
                corrections,
                client,
                WebApiReader.from_context(context),
                _target(view) or {},
                body["user"]["id"],
                _submitted_text(view),
            )
            return
        target = _target(view)
        if target is None:
            await ack(**render.field_error(render.OUT_OF_DATE))
            return
        text = _submitted_text(view)
        problem = problem_with(text, target.get("fp", ""))
        if problem:
            await ack(**render.field_error(problem))
            return
        raw = json.dumps(body, sort_keys=True)
        if await inbox.accept(f"view:{hashlib.sha256(raw.encode()).hexdigest()[:32]}", VIEW_SUBMISSION, raw):
            on_stored()
        await ack()

    app.shortcut(CORRECT_ANSWER_SHORTCUT)(on_open)
    app.action(ANSWER_CORRECT)(on_open)
    app.view(CORRECTION_VIEW)(on_submit)


async def _store(
    corrections: Corrections, client: AsyncWebClient, reader: WebApiReader, target: dict[str, Any], user: str, text: str
) -> None:
    """Save a submitted correction and tell the person how it went."""
    thread = target.get("thread") or None
    try:
        if "example_id" in target:
            example = await corrections.correct(int(target["example_id"]), corrector=user, text=text, reader=reader)
        else:
            example = await corrections.submit(
                channel=target["channel"], ts=target["ts"], corrector=user, text=text, reader=reader
            )
    except TuningError as error:
        await _tell(client, target.get("channel", ""), user, render.not_saved(slack_words(str(error))), thread)
        return
    await _tell(client, example.channel, user, render.saved(example.state), thread)


async def _tell(client: AsyncWebClient, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
    """An ephemeral note in the channel; in a DM with the app when that is not possible."""
    try:
        await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=text)
    except SlackApiError:  # not a member there (or no channel): the app's DM reaches the person anyway
        await client.chat_postMessage(channel=user, text=text)


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
