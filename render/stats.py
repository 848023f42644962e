"""/tune stats and the App Home tab."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from render.review import SOURCE_NAMES
from render.text import plural
from tuning.values import Activity, Stats

STATES = ("approved", "candidate", "rejected")
MAX_CHANNELS = 15


def stats_blocks(stats: Stats) -> tuple[list[Block], str]:
    total = sum(stats.by_state.values())
    if total == 0:
        text = "No examples yet. React with :+1: to good answers, or use *Correct this answer* on bad ones."
        return [SectionBlock(text=text)], text
    states = " · ".join(f"{stats.by_state.get(state, 0)} {state}" for state in STATES)
    sources = " · ".join(f"{n} {SOURCE_NAMES.get(source, source)}" for source, n in sorted(stats.by_source.items()))
    blocks: list[Block] = [
        HeaderBlock(text=f"Tuneloop: {plural(total, 'example')}"),
        SectionBlock(text=MarkdownTextObject(text=f"*By state:* {states}\n*By source:* {sources}")),
        SectionBlock(text=MarkdownTextObject(text="*By channel:*\n" + _channels(stats))),
    ]
    if stats.down_reasons:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*Why :-1::* {down_reasons(stats)}")))
    if stats.contributors:
        people = "\n".join(f"{i}. <@{user}>: {n}" for i, (user, n) in enumerate(stats.contributors, 1))
        blocks.append(SectionBlock(text=MarkdownTextObject(text="*Top contributors:*\n" + people)))
    return blocks, f"Tuneloop: {total} examples ({states})"


def down_reasons(stats: Stats) -> str:
    """`2 wrong · 1 outdated`, most frequent first."""
    ranked = sorted(stats.down_reasons.items(), key=lambda item: (-item[1], item[0]))
    return " · ".join(f"{n} {reason}" for reason, n in ranked)


def _channels(stats: Stats) -> str:
    ranked = sorted(stats.by_channel.items(), key=lambda item: -sum(item[1].values()))[:MAX_CHANNELS]
    return "\n".join(
        f"<#{channel}>: " + ", ".join(f"{counts.get(state, 0)} {state}" for state in STATES)
        for channel, counts in ranked
    )


def home_view(stats: Stats, model: str, activity: list[Activity], lifecycle: Sequence[Block] = ()) -> View:
    """`lifecycle`: the canary's card while one runs."""
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"*Answering with* `{model}`")),
        *lifecycle,
        DividerBlock(),
        *stats_blocks(stats)[0],
        DividerBlock(),
        HeaderBlock(text="Recent activity"),
    ]
    if activity:
        lines = [_activity_line(item) for item in activity]
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(lines))))
    else:
        blocks.append(SectionBlock(text="Nothing yet."))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="`/tune help` lists every command.")]))
    return View(type="home", blocks=blocks)


def _activity_line(item: Activity) -> str:
    who = f"<@{item.actor}>" if item.actor else "votes"
    return f"`{item.at[:16].replace('T', ' ')}` example {item.example_id}: {item.action} by {who} → {item.state}"


def stats_text(stats: Stats) -> str:
    """The same numbers for a terminal (`tuneloop stats`)."""
    total = sum(stats.by_state.values())
    lines = [f"{plural(total, 'example')}: " + ", ".join(f"{stats.by_state.get(s, 0)} {s}" for s in STATES)]
    lines += [f"  {SOURCE_NAMES.get(source, source)}: {n}" for source, n in sorted(stats.by_source.items())]
    lines += [
        f"channel {channel}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES)
        for channel, counts in sorted(stats.by_channel.items())
    ]
    lines += [f"contributor {user}: {n}" for user, n in stats.contributors]
    if stats.down_reasons:
        lines.append(f"why 👎: {down_reasons(stats)}")
    return "\n".join(lines)
