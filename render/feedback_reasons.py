"""'What was wrong?' after a 👎: an ephemeral message (only the voter sees it) with quick reasons and a button
opening a form for a reason and a fix.

An ephemeral message, because a 👎 reaction arrives as an event, which carries no trigger_id: a modal can
only be opened in answer to an interaction (docs.slack.dev/interactivity/handling-user-interaction, "trigger_id";
views.open "trigger_id ... Required"), so the form opens from the message's button.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from render.ids import (
    FEEDBACK_FIX,
    FEEDBACK_FIX_BLOCK,
    FEEDBACK_FIX_INPUT,
    FEEDBACK_REASON,
    FEEDBACK_REASON_BLOCK,
    FEEDBACK_REASON_INPUT,
    FEEDBACK_REASON_VIEW,
)

REASON_LABELS = {
    "wrong": "Wrong",
    "outdated": "Outdated",
    "incomplete": "Incomplete",
    "unclear": "Unclear",
    "other": "Other",
}
ASK = "What was wrong with this answer? (optional: only you see this)"


def target_value(channel: str, ts: str) -> str:
    return f"{channel}|{ts}"


def ask_blocks(channel: str, ts: str) -> tuple[list[Block], str]:
    value = target_value(channel, ts)
    buttons = [
        ButtonElement(text=label, action_id=f"{FEEDBACK_REASON}:{reason}", value=value)
        for reason, label in REASON_LABELS.items()
    ]
    buttons.append(ButtonElement(text="✏️ Say more…", action_id=FEEDBACK_FIX, value=value))
    return [SectionBlock(text=MarkdownTextObject(text=f"*{ASK}*")), ActionsBlock(elements=buttons)], ASK


def noted(reason: str, correction_state: str | None) -> tuple[list[Block], str]:
    text = f"Thanks: noted as *{REASON_LABELS.get(reason, reason).lower()}*."
    if correction_state == "candidate":
        text += " Your fix is waiting for an admin's review."
    elif correction_state == "approved":
        text += " Your fix is approved for training."
    return [SectionBlock(text=MarkdownTextObject(text=text))], text


def noted_with_more(reason: str, channel: str, ts: str) -> tuple[list[Block], str]:
    blocks, text = noted(reason, None)
    blocks.append(
        ActionsBlock(
            elements=[ButtonElement(text="✏️ Say more…", action_id=FEEDBACK_FIX, value=target_value(channel, ts))]
        )
    )
    return blocks, text


def reason_form(channel: str, ts: str, reason: str | None = None) -> View:
    options = [Option(value=key, text=label) for key, label in REASON_LABELS.items()]
    initial = next((o for o in options if o.value == reason), None)
    return View(
        type="modal",
        callback_id=FEEDBACK_REASON_VIEW,
        title="What was wrong?",
        submit="Send",
        close="Cancel",
        private_metadata=target_value(channel, ts),
        blocks=[
            InputBlock(
                block_id=FEEDBACK_REASON_BLOCK,
                label="Reason",
                element=StaticSelectElement(
                    action_id=FEEDBACK_REASON_INPUT, options=options, initial_option=initial, placeholder="Pick one"
                ),
            ),
            InputBlock(
                block_id=FEEDBACK_FIX_BLOCK,
                label="What should it have said?",
                optional=True,
                element=PlainTextInputElement(action_id=FEEDBACK_FIX_INPUT, multiline=True, max_length=3000),
            ),
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="A fix becomes a suggested correction: an admin approves it before it is trained on."
                    )
                ]
            ),
        ],
    )
