"""How datasets look in Slack: the summary card, `/tune dataset list` and `/tune dataset show`.

Pure: values in, (blocks, fallback text) out. Every section stays under Slack's 3,000 characters
and every message under 50 blocks.
"""

from __future__ import annotations

from itertools import groupby

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from render.text import SECTION_LIMIT, plural
from tuning.training.datasets.specs import DROP_REASONS, DatasetListing, DatasetSummary

MAX_BLOCKS = 50
VERSIONS_PER_NAME = 5


def summary_card(summary: DatasetSummary, *, attached: bool = False) -> tuple[list[Block], str]:
    """The card posted after a build. `attached`: the JSONL files follow in the card's thread."""
    blocks: list[Block] = [
        HeaderBlock(text=f"Dataset {summary.ref}"[:150]),
        _section(_counts(summary)),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=_tokens(summary)),
                MarkdownTextObject(text=f"*Default epochs*\n{summary.cost.epochs}"),
                MarkdownTextObject(text=_cost(summary)),
                MarkdownTextObject(text=f"*Filters*\n{summary.filters.describe()} · `val:{summary.val:g}`"),
            ]
        ),
    ]
    if summary.kto is not None:
        blocks.append(_section(_kto(summary)))
    if summary.dropped:
        blocks.append(_section(_dropped(summary.dropped)))
    if summary.warnings:
        blocks.append(_section("\n".join(f":warning: {warning}" for warning in summary.warnings)))
    blocks.append(_context(_provenance(summary, attached)))
    return blocks, summary_text(summary)


def show_card(summary: DatasetSummary) -> tuple[list[Block], str]:
    """`/tune dataset show`: the card, plus each file's checksum."""
    blocks, text = summary_card(summary)
    files = " · ".join(f"`{f.path.name}` {plural(f.lines, 'line')} sha256 `{f.sha256[:12]}…`" for f in summary.files)
    return [*blocks, _context(files)], text


def summary_text(summary: DatasetSummary) -> str:
    """The notification and screen-reader text; also what the CLI prints."""
    lines = [
        f"Dataset {summary.ref} ({summary.format.upper()}): {summary.examples:,} examples, "
        f"{summary.train:,} train / {summary.validation:,} validation.",
        f"Tokens per example: median {summary.tokens.median:,}, p90 {summary.tokens.p90:,}; total {summary.tokens.total:,}.",
        f"Default epochs: {summary.cost.epochs}. {_cost_line(summary)}",
    ]
    if summary.kto is not None:
        lines.append(_kto(summary).replace("*", "").replace("\n", " "))
    if summary.dropped:
        lines.append(
            "Dropped: " + ", ".join(f"{n:,} {DROP_REASONS.get(r, r)}" for r, n in summary.dropped.items()) + "."
        )
    lines += summary.warnings
    return "\n".join(lines)


def listing(versions: list[DatasetListing]) -> tuple[list[Block], str]:
    """`/tune dataset list`: each name with its newest versions (the input is newest first per name)."""
    if not versions:
        text = "No datasets yet. Build one with `/tune dataset build NAME`."
        return [_section(text)], text
    groups = [(name, list(group)) for name, group in groupby(versions, key=lambda v: v.name)]
    shown = groups[: MAX_BLOCKS - 2]
    blocks: list[Block] = [HeaderBlock(text=f"Datasets: {len(groups)}")]
    blocks += [_section(_name_line(name, group)) for name, group in shown]
    if len(groups) > len(shown):
        blocks.append(_context(f"…and {len(groups) - len(shown)} more. `tuneloop dataset …` on the server sees all."))
    text = "Datasets: " + ", ".join(f"{name}@{group[0].version}" for name, group in groups)
    return blocks, text[:SECTION_LIMIT]


def building(name: str) -> str:
    return f":hourglass_flowing_sand: Building dataset `{name}`… the summary will be posted in this channel."


ERASED = ":warning: contains erased data: rebuild"
NOT_A_MEMBER = "Tuneloop is not in this channel: invite it with `/invite @tuneloop` and build again"


def files_not_attached(reason: str) -> str:
    return f":information_source: The JSONL files were not attached ({reason}). `tuneloop dataset export` copies them."


def _counts(summary: DatasetSummary) -> str:
    return (
        f"*{summary.examples:,}* {summary.format.upper()} examples: *{summary.train:,}* train · "
        f"*{summary.validation:,}* validation"
    )


def _kto(summary: DatasetSummary) -> str:
    """Both kinds of answer in the training split, and the class weights KTO jobs train with."""
    kto = summary.kto
    assert kto is not None
    return (
        f"*KTO labels (train)*: {kto.desirable:,} desirable (👍 approved) · {kto.undesirable:,} undesirable "
        f"(👎 or rejected)\n*Class weights*: desirable_weight {kto.desirable_weight:g} · undesirable_weight "
        f"{kto.undesirable_weight:g} (TRL's KTO guidance: weighted desirable ÷ undesirable between 1 and 4/3)"
    )


def _tokens(summary: DatasetSummary) -> str:
    tokens = summary.tokens
    return (
        f"*Tokens per example* ({summary.encoding})\nmedian {tokens.median:,} · p90 {tokens.p90:,}\n"
        f"total {tokens.total:,}"
    )


def _cost(summary: DatasetSummary) -> str:
    cost = summary.cost
    return f"*Estimated training cost*\n{_money(cost.usd)} (estimate)\n{cost.trainer} `{cost.model}`\n" + (
        f"prices checked {cost.prices_checked}" if cost.prices_checked else "no price known for this model"
    )


def _cost_line(summary: DatasetSummary) -> str:
    cost = summary.cost
    checked = f"prices checked {cost.prices_checked}" if cost.prices_checked else "no price known"
    return f"Estimated training cost: {_money(cost.usd)} (estimate; {cost.trainer} {cost.model}; {checked})."


def _money(usd: float | None) -> str:
    if usd is None:
        return "unknown"
    return "< $0.01" if 0 < usd < 0.01 else f"${usd:,.2f}"


def _dropped(dropped: dict[str, int]) -> str:
    total = sum(dropped.values())
    lines = [f"• {DROP_REASONS.get(reason, reason)}: {n:,}" for reason, n in dropped.items()]
    return f"*Dropped: {total:,}*\n" + "\n".join(lines)


def _provenance(summary: DatasetSummary, attached: bool) -> str:
    who = f"<@{summary.created_by}>" if summary.created_by and summary.created_by[:1] in "UW" else summary.created_by
    parts = [f"Built {summary.created_at[:16].replace('T', ' ')} UTC" + (f" by {who}" if who else "")]
    if attached:
        parts.append("train.jsonl and validation.jsonl are in this thread")
    return " · ".join(parts)


def _name_line(name: str, versions: list[DatasetListing]) -> str:
    newest = versions[0]
    lines = [f"*{name}* (newest: `{name}@{newest.version}`, {newest.format.upper()})"]
    for version in versions[:VERSIONS_PER_NAME]:
        lines.append(
            f"• `@{version.version}` {version.train:,} train / {version.validation:,} validation"
            f" · {version.created_at[:10]}" + (f" · {ERASED}" if version.erased else "")
        )
    if len(versions) > VERSIONS_PER_NAME:
        lines.append(f"• …{plural(len(versions) - VERSIONS_PER_NAME, 'older version')}")
    return "\n".join(lines)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(text)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(text))])


def _clip(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"
