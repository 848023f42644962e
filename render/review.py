"""The review queue: candidates with Approve, Reject and Edit."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from render import safe_text
from render.ids import REVIEW_APPROVE, REVIEW_EDIT, REVIEW_REJECT, REVIEW_RETIRE
from render.text import excerpt, message_link, plural
from tuning.answering.memory import UsedMemory
from tuning.values import ExampleView

SOURCE_NAMES = {"bot_answer": "bot answer", "teammate_answer": "teammate's answer", "correction": "correction"}


def review_queue(
    candidates: list[ExampleView],
    total: int,
    admins: frozenset[str],
    drew_on: dict[int, list[UsedMemory]] | None = None,
) -> tuple[list[Block], str]:
    """`drew_on`: the team memories an answer under review was given (shown with a Retire button each)."""
    if not candidates:
        text = "Nothing to review: every example is approved or rejected."
        return [SectionBlock(text=text)], text
    fallback = f"{plural(total, 'candidate')} waiting for review"
    blocks: list[Block] = [HeaderBlock(text=f"Review: {plural(total, 'candidate')}")]
    for example in candidates:
        blocks += [
            _candidate(example),
            _buttons(example.id),
            *_memories((drew_on or {}).get(example.id, [])),
            DividerBlock(),
        ]
    who = ", ".join(f"<@{user}>" for user in sorted(admins)) or "nobody yet (set TUNELOOP_ADMINS)"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Admins who can act: {who}")]))
    return blocks, fallback


def _candidate(example: ExampleView) -> SectionBlock:
    answer = example.corrected if example.corrected is not None else example.answer
    lines = [
        f"*Q:* {safe_text.mrkdwn(excerpt(example.question, 280))}",
        f"*A:* {safe_text.mrkdwn(excerpt(answer, 600))}",
        f":+1: {example.up_votes}   :-1: {example.down_votes}   · {SOURCE_NAMES.get(example.source, example.source)}"
        f" · <#{example.channel}> · <{message_link(example.channel, example.message_ts, example.thread_ts)}|message>",
    ]
    if example.why_down:
        lines.append(why_down_line(example.why_down))
    return SectionBlock(block_id=f"example-{example.id}", text=MarkdownTextObject(text="\n".join(lines)))


def why_down_line(why: tuple[tuple[str, str | None], ...]) -> str:
    """`:-1: why: wrong ×2 · outdated — "the port is 8443 now"` (the newest note)."""
    counts: dict[str, int] = {}
    for reason, _ in why:
        counts[reason] = counts.get(reason, 0) + 1
    line = ":-1: why: " + " · ".join(f"{reason} ×{n}" if n > 1 else reason for reason, n in counts.items())
    notes = [note for _, note in why if note]
    return line + (f" — “{safe_text.mrkdwn(excerpt(notes[-1], 200))}”" if notes else "")


def _buttons(example_id: int) -> ActionsBlock:
    value = str(example_id)
    return ActionsBlock(
        elements=[
            ButtonElement(text="Approve", action_id=REVIEW_APPROVE, value=value, style="primary"),
            ButtonElement(text="Reject", action_id=REVIEW_REJECT, value=value, style="danger"),
            ButtonElement(text="Edit", action_id=REVIEW_EDIT, value=value),
        ]
    )


def _memories(used: list[UsedMemory]) -> list[Block]:
    """The team answers this answer drew on: a bad one can be retired from here."""
    if not used:
        return []
    lines = [
        f"{i}. _{safe_text.mrkdwn(excerpt(memory.question, 120))}_ → {safe_text.mrkdwn(excerpt(memory.answer, 200))}"
        f" · <{message_link(memory.channel, memory.message_ts, memory.thread_ts)}|thread>"
        for i, memory in enumerate(used, 1)
    ]
    buttons = [
        ButtonElement(text=f"Retire memory {i}", action_id=f"{REVIEW_RETIRE}-{i}", value=str(memory.example_id))
        for i, memory in enumerate(used, 1)
    ]
    return [
        SectionBlock(
            text=MarkdownTextObject(text=f"*Drew on {plural(len(used), 'team answer')}:*\n" + "\n".join(lines))
        ),
        ActionsBlock(elements=buttons),
    ]


def retired(example_id: int, actor: str) -> str:
    return f"Memory {example_id} is retired (its example rejected, by <@{actor}>): no answer will draw on it again."


def decided(example: ExampleView, actor: str) -> str:
    return f"Example {example.id} is now *{example.state}* (by <@{actor}>)."
