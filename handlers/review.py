"""`/tune review` and its Approve, Reject and Edit buttons."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack_io import slack_error
from handlers.tune import Invocation, Runner
from render import corrections as render_corrections
from render import review as render
from render.help import failure
from render.ids import REVIEW_APPROVE, REVIEW_EDIT, REVIEW_REJECT, REVIEW_RETIRE
from tuning.admin import require_admin
from tuning.answering.memory import Memory
from tuning.capture.corrections import fingerprint
from tuning.capture.review import Review
from tuning.errors import TuningError


async def _queue(review_service: Review, memory: Memory) -> tuple[list, str]:
    """The queue, each answer under review shown with the team memories it drew on."""
    candidates, total = await review_service.queue()
    drew_on = await memory.drew_on([example.id for example in candidates])
    return render.review_queue(candidates, total, review_service.admins, drew_on)


def runners(review_service: Review, memory: Memory) -> dict[str, Runner]:
    async def review(call: Invocation) -> None:
        blocks, text = await _queue(review_service, memory)
        await call.reply(text, blocks)

    return {"review": review}


def register(app: AsyncApp, review_service: Review, memory: Memory) -> None:
    async def on_decision(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body["user"]["id"]
        decision = "approve" if action["action_id"] == REVIEW_APPROVE else "reject"
        try:
            example = await review_service.decide(_example_id(action), decision, user)
        except (TuningError, ValueError) as error:
            await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
            return
        blocks, text = await _queue(review_service, memory)
        await respond(replace_original=True, text=f"{render.decided(example, user)} {text}", blocks=blocks)

    async def on_retire(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body["user"]["id"]
        try:
            example_id = _example_id(action)
            await memory.retire(user, example_id)
        except (TuningError, ValueError) as error:
            await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
            return
        blocks, text = await _queue(review_service, memory)
        await respond(replace_original=True, text=f"{render.retired(example_id, user)} {text}", blocks=blocks)

    async def on_edit(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        try:
            require_admin(body["user"]["id"], review_service.admins, "edit examples")
            example = await review_service.get(_example_id(action))
        except (TuningError, ValueError) as error:
            await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
            return
        text = example.corrected if example.corrected is not None else example.answer
        modal = render_corrections.correction_modal(
            original=text, question=example.question, fingerprint=fingerprint(text), target={"example_id": example.id}
        )
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=modal)
        except SlackApiError as error:  # e.g. the trigger expired (3 s) while Slack was slow
            await respond(
                response_type="ephemeral",
                replace_original=False,
                text=failure(render_corrections.modal_not_opened(slack_error(error), opened_with="Edit")),
            )

    app.action(REVIEW_APPROVE)(on_decision)
    app.action(REVIEW_REJECT)(on_decision)
    app.action(REVIEW_EDIT)(on_edit)
    app.action(re.compile(f"^{REVIEW_RETIRE}(-\\d+)?$"))(on_retire)  # one button per memory, numbered


def _example_id(action: dict[str, Any]) -> int:
    """The example a button is for; a value Tuneloop never put on a button is refused in words."""
    value = action.get("value") or ""
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise TuningError("This button no longer matches an example. Run `/tune review` again.")
    return int(value)
