"""Team memory in Slack: the context line under an answer that drew on it, and `/tune memory`."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, HeaderBlock, MarkdownTextObject, SectionBlock

from render import safe_text
from render.text import excerpt, message_link, plural
from tuning.answering.memory import MemoryHit, MemoryStats


def drew_on(hits: Sequence[MemoryHit]) -> str | None:
    """ "Drawing on 2 team answers: 1 · 2", each number a link to that answer's thread; None when it drew on none."""
    if not hits:
        return None
    links = " · ".join(
        f"<{message_link(hit.channel, hit.message_ts, hit.thread_ts)}|{i}>" for i, hit in enumerate(hits, 1)
    )
    return f":brain: Drawing on {plural(len(hits), 'team answer')}: {links}"


def memory_report(stats: MemoryStats, workspace_on: bool, channels: dict[str, bool]) -> tuple[list[Block], str]:
    rate = stats.answers_with_memory / stats.answers if stats.answers else 0.0
    summary = (
        f"*{plural(stats.size, 'memory', 'memories')}* (approved answers it can draw on) · "
        f"used by {stats.answers_with_memory} of {plural(stats.answers, 'answer')} ({rate:.0%} hit rate)"
    )
    switches = "on" if workspace_on else "*off*"
    if channels:
        switches += " · " + ", ".join(f"<#{channel}> {'on' if on else '*off*'}" for channel, on in channels.items())
    lines = [summary, f"Switched: workspace {switches}"]
    if stats.most_used:
        lines.append(
            "*Most used:*\n"
            + "\n".join(
                f"{i}. {safe_text.mrkdwn(excerpt(question, 120))} ({plural(uses, 'answer')}, example {example_id})"
                for i, (example_id, question, uses) in enumerate(stats.most_used, 1)
            )
        )
    text = "\n".join(lines)
    return [HeaderBlock(text="Team memory"), SectionBlock(text=MarkdownTextObject(text=text))], summary


def switched(enabled: bool, channel: str | None) -> str:
    where = (
        f"in <#{channel}>" if channel else "in the whole workspace (channels switched on their own keep their switch)"
    )
    return f"Team memory is now *{'on' if enabled else 'off'}* {where}."
