"""How answers look in Slack."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextActionsBlock,
    ContextBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    MarkdownBlock,
    MarkdownTextObject,
)

from render import safe_text
from render.ids import ANSWER_CORRECT, ANSWER_FEEDBACK, FEEDBACK_DOWN, FEEDBACK_UP
from render.words import slack_words

# Slack truncates message text past 40,000 characters and renders long ones poorly; 3,900 keeps
# each part readable and within a section block's limit should it ever be put in one.
PART_LIMIT = 3_900
_FENCE = "```"

THINKING = ":hourglass_flowing_sand: Thinking…"


CONVERSATION_UNREADABLE = "I can't read this conversation any more (was the message deleted?)."


def model_error(reason: str) -> str:
    return f":warning: Sorry, I couldn't answer: {slack_words(reason)}"


def stream_setup_error(code: str) -> str:
    """For the admins, once: Slack would not stream answers because of how Tuneloop is installed."""
    fix = {"missing_scope": "reinstall the app with the scopes in manifest.yml"}.get(
        code, "check the app's installation and scopes against manifest.yml"
    )
    return (
        f":warning: Slack refused to stream Tuneloop's answers (`{code}`), so they are posted when complete"
        f" instead. To fix it: {fix}. (Told once.)"
    )


def feedback_blocks() -> list[Block]:
    """👍 / 👎 under an answer, and a labelled "Correct" button that opens the correction form.

    The only icon Slack offers an icon_button is `trash`, which reads as "delete"; a context_actions block
    holds only feedback_buttons and icon_button elements (Block Kit reference), so "Correct" is a plain
    button in an actions block of its own.
    """
    return [
        ContextActionsBlock(
            elements=[
                FeedbackButtonsElement(
                    action_id=ANSWER_FEEDBACK,
                    positive_button=FeedbackButtonObject(
                        text="👍", value=FEEDBACK_UP, accessibility_label="Good answer"
                    ),
                    negative_button=FeedbackButtonObject(
                        text="👎", value=FEEDBACK_DOWN, accessibility_label="Bad answer"
                    ),
                )
            ]
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=ANSWER_CORRECT,
                    text="✏️ Correct",
                    value="correct",
                    accessibility_label="Write the answer it should have given",
                )
            ]
        ),
    ]


def closing_blocks(note: str | None = None) -> list[Block]:
    """What ends an answer: the context line (e.g. the team answers it drew on), then the feedback buttons."""
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=note)])] if note else []
    return [*blocks, *feedback_blocks()]


def answer_message(part: str, *, last: bool, note: str | None = None) -> tuple[str, list[Block]]:
    """One part of an answer as a message: Markdown rendered as formatting; the last part carries the feedback
    (after `note`, a context line)."""
    blocks: list[Block] = [MarkdownBlock(text=safe_text.markdown(part))]
    if last:
        blocks += closing_blocks(note)
    return safe_text.mrkdwn(part), blocks


def split_answer(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Split at paragraph, line or word boundaries; a code block cut in two is closed and reopened."""
    parts: list[str] = []
    rest = text.strip()
    reopen = False
    while rest:
        head = (_FENCE + "\n" if reopen else "") + rest
        if len(head) <= limit:
            parts.append(head)
            break
        cut = _cut_point(head, limit - len(_FENCE) - 1)
        part, rest = head[:cut].rstrip(), head[cut:].lstrip("\n ")
        reopen = part.count(_FENCE) % 2 == 1
        parts.append(part + ("\n" + _FENCE if reopen else ""))
    return parts or [""]


def _cut_point(text: str, limit: int) -> int:
    for separator in ("\n\n", "\n", " "):
        index = text.rfind(separator, limit // 2, limit)
        if index > 0:
            return index
    return limit
