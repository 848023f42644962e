"""`/tune review` and its Approve, Reject and Edit buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.tune import Invocation, Runner
from render import corrections as render_corrections
from render import review as render
from render.help import failure
from render.ids import REVIEW_APPROVE, REVIEW_EDIT, REVIEW_REJECT
from tuning.corrections import fingerprint
from tuning.errors import TuningError
from tuning.review import require_admin
from tuning.services import Services


def runners(services: Services) -> dict[str, Runner]:
    async def review(call: Invocation) -> None:
        candidates, total = await services.review.queue()
        blocks, text = render.review_queue(candidates, total, services.review.admins)
        await call.reply(text, blocks)

    return {"review": review}


def register(app: AsyncApp, services: Services) -> None:
    async def on_decision(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body["user"]["id"]
        decision = "approve" if action["action_id"] == REVIEW_APPROVE else "reject"
        try:
            example = await services.review.decide(int(action["value"]), decision, user)
        except (TuningError, ValueError) as error:
            await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
            return
        candidates, total = await services.review.queue()
        blocks, text = render.review_queue(candidates, total, services.review.admins)
        await respond(replace_original=True, text=f"{render.decided(example, user)} {text}", blocks=blocks)

    async def on_edit(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
                      client: AsyncWebClient) -> None:
        await ack()
        try:
            require_admin(body["user"]["id"], services.review.admins, "edit examples")
            example = await services.review.get(int(action["value"]))
        except (TuningError, ValueError) as error:
            await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
            return
        text = example.corrected if example.corrected is not None else example.answer
        modal = render_corrections.correction_modal(
            original=text, question=example.question, fingerprint=fingerprint(text), target={"example_id": example.id}
        )
        await client.views_open(trigger_id=body["trigger_id"], view=modal)

    app.action(REVIEW_APPROVE)(on_decision)
    app.action(REVIEW_REJECT)(on_decision)
    app.action(REVIEW_EDIT)(on_edit)
