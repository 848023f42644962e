"""The "Correct this answer" modal and its confirmation."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from render import safe_text
from render.ids import CORRECTION_BLOCK, CORRECTION_INPUT, CORRECTION_VIEW
from render.text import excerpt
from render.words import slack_words

INPUT_LIMIT = 3000  # Slack's maximum for a plain-text input


def correction_modal(*, original: str, question: str | None, fingerprint: str, target: dict[str, object]) -> View:
    """`target` says what is corrected ({"channel", "ts"} or {"example_id"}); it travels in private_metadata."""
    blocks: list[Block] = []
    if question:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"*Question:* {safe_text.mrkdwn(excerpt(question, 150))}")])
        )
    blocks.append(
        InputBlock(
            block_id=CORRECTION_BLOCK,
            label="The answer it should have given",
            element=PlainTextInputElement(
                action_id=CORRECTION_INPUT, multiline=True, initial_value=original[:INPUT_LIMIT], max_length=INPUT_LIMIT
            ),
            hint="Your text becomes the answer to train on; the original becomes the answer to avoid.",
        )
    )
    return View(
        type="modal",
        callback_id=CORRECTION_VIEW,
        title="Correct this answer",
        submit="Save correction",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps({**target, "fp": fingerprint}),
    )


def loading_modal() -> View:
    """Opened at once, while the answer to correct is looked up."""
    return notice_modal(":hourglass_flowing_sand: Loading the answer…")


def notice_modal(text: str) -> View:
    return View(
        type="modal",
        title="Correct this answer",
        close="Close",
        blocks=[SectionBlock(text=MarkdownTextObject(text=text))],
    )


def not_saved(reason: str) -> str:
    return f":warning: Your correction was not saved: {reason}"


OUT_OF_DATE = "This form no longer matches a message. Close it and use “Correct this answer” again."


def modal_not_opened(reason: str, *, opened_with: str) -> str:
    """`opened_with`: what the person clicked, so they know what to click again."""
    return f"Slack did not open the correction form ({reason}). Click “{opened_with}” again."


def field_error(message: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {CORRECTION_BLOCK: slack_words(message)}}


def saved(state: str) -> str:
    if state == "approved":
        return ":white_check_mark: Correction saved and approved for training. Thank you!"
    return ":white_check_mark: Correction saved. An admin will review it before it is used for training. Thank you!"


def not_correctable(reason: str) -> str:
    return f":warning: {slack_words(reason)}"
