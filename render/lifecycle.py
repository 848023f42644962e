"""Lifecycle messages: shutdown warnings, the fallback notice, the canary and migration cards, `/tune model`."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from render.evaluations import model_history
from render.ids import MIGRATION_PROMOTE
from render.words import slack_words
from tuning.release.gate import GateCheck
from tuning.release.lifecycle.canary import CanaryReport, CanaryRow, LiveStats
from tuning.release.lifecycle.notices import ShutdownWarning
from tuning.release.lifecycle.retirement import WatchedModel
from tuning.release.lifecycle.successor import MigrationStory
from tuning.release.promotion import ModelChange


def shutdown_warning(warning: ShutdownWarning, admins: frozenset[str]) -> str:
    who = "".join(f"<@{admin}> " for admin in sorted(admins))
    when = "today" if warning.days_left == 0 else f"in {warning.days_left} day{'s' if warning.days_left != 1 else ''}"
    return (
        f":hourglass_flowing_sand: {who}`{warning.model}`, {warning.role}, shuts down {when} "
        f"({warning.shutdown:%d %B %Y}, from {warning.source}). Promote a replacement before then "
        "(`/tune migrate` retrains the answering model's dataset on another back-end); if it stops answering, "
        "Tuneloop falls back to the model promoted before it."
    )


def fell_back(gone: str, change: ModelChange) -> str:
    return (
        f":rotating_light: `{gone}` no longer answers at its provider ({change.reason}). Tuneloop answers with "
        f"`{change.model}` from now on, so nobody is left without an answer. Promote a replacement with "
        "`/tune promote`."
    )


def model_status(current: str, history: list[ModelChange], watched: list[WatchedModel]) -> str:
    lines = [model_history(current, history)]
    for model in watched:
        if model.shutdown is not None:
            lines.append(
                f"• `{model.model}` ({model.role}) shuts down on {model.shutdown:%d %B %Y} (from {model.source})."
            )
    last = history[-1] if history else None
    if last is not None and last.action == "fallback":
        lines.append(
            f":rotating_light: Fell back to `{last.model}` on {last.created_at[:10]}: {slack_words(last.reason or '')}"
        )
    return "\n".join(lines)


def gate_verdict(check: GateCheck | None) -> str:
    """What the gate says of a migrated model, in its job's thread."""
    if check is None or check.passed:
        return "The promotion gate lets it through: promote it from the migration card."
    return "The promotion gate would refuse it:\n" + slack_words(check.text())


def canary_started(canary: CanaryRow, current: str) -> str:
    return (
        f":baby_chick: <@{canary.started_by}> started a canary: `{canary.model}` answers {canary.share:.0%} of new "
        f"threads, `{current}` the rest. A conversation keeps its model. `/tune canary` shows the numbers; "
        "`/tune canary promote` or `/tune canary stop` ends it."
    )


def canary_stopped(canary: CanaryRow, user: str) -> str:
    return f":no_entry: <@{user}> stopped the canary of `{canary.model}`: every new thread is answered by the current model."


def no_canary(current: str) -> str:
    return f"No canary is running; `{current}` answers every thread. Start one with `/tune canary MODEL share:20%`."


def canary_blocks(report: CanaryReport) -> tuple[list[Block], str]:
    canary = report.canary
    title = f"Canary: `{canary.model}` on {canary.share:.0%} of new threads since {canary.started_at[:16].replace('T', ' ')}"
    blocks: list[Block] = [
        HeaderBlock(text="Canary"),
        SectionBlock(text=MarkdownTextObject(text=title)),
        SectionBlock(text=MarkdownTextObject(text=_stats("Current", report.current))),
        SectionBlock(text=MarkdownTextObject(text=_stats("Candidate", report.candidate))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="👍-rate is 👍 / (👍 + 👎) with its 95% Wilson interval; cost per 1,000 answers from the model "
                    "catalogue's prices (estimate) and the tokens each answer used."
                )
            ]
        ),
    ]
    text = f"{title}\n{_stats('Current', report.current)}\n{_stats('Candidate', report.candidate)}"
    return blocks, text


def _stats(role: str, stats: LiveStats) -> str:
    rate = "n/a" if stats.up_rate is None else (f"{stats.up_rate:.0%} (95% CI {stats.up_low:.0%}–{stats.up_high:.0%})")
    cost = "n/a" if stats.cost_per_1k_usd is None else f"${stats.cost_per_1k_usd:,.2f}"
    return (
        f"*{role}* `{stats.model}`: {stats.answers} answers · 👍 {stats.up} · 👎 {stats.down} · "
        f"{stats.corrections} corrections · 👍-rate {rate} · latency p50 {_ms(stats.latency_p50_ms)}, "
        f"p95 {_ms(stats.latency_p95_ms)} · {cost} per 1,000 answers"
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def migration_card(story: MigrationStory) -> tuple[list[Block], str]:
    """One card for the whole migration: source model, new job, evaluation, decision."""
    job = story.job
    source = f"`{story.source_model}`" + (f" (job `{story.source_job}`)" if story.source_job else "")
    trained = f" → `{job.fine_tuned_model}`" if job.fine_tuned_model else ""
    lines = [
        f"*Source:* {source}, answering now",
        f"*New job:* `{job.id}` on `{job.trainer}`, base `{job.base_model}`, dataset `{job.dataset}`: {job.state}{trained}",
        "*Hyperparameters:* " + "; ".join(story.hyperparameters),
        "*Evaluation:* "
        + (
            f"#{story.evaluation_id} against the answering model on `{job.dataset}`'s validation "
            f"split: {story.headline}"
            if story.evaluation_id
            else "after the job succeeds"
        ),
    ]
    if story.gate is not None:
        lines.append("*Promotion gate:* " + ("passes" if story.gate == "passes" else f"refuses\n{story.gate}"))
    lines.append("*Decision:* " + (story.decision or "waiting"))
    body = slack_words("\n".join(lines))
    text = "Migration of the answering model\n" + body
    blocks: list[Block] = [HeaderBlock(text="Migration"), SectionBlock(text=MarkdownTextObject(text=body))]
    if story.evaluation_id and story.decision is None:
        blocks.append(
            ActionsBlock(
                elements=[ButtonElement(text="Promote", action_id=MIGRATION_PROMOTE, value=job.id, style="primary")]
            )
        )
    return blocks, text
