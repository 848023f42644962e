"""Evaluation progress and results, and the answering model's history."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from render.jobs import progress_bar
from render.text import plural
from render.words import slack_words
from tuning.release.evaluation.results import EvalSummary, ModelMetrics
from tuning.release.promotion import ModelChange

MAX_CLASSES = 12


def progress(candidate: str, baseline: str | None, dataset: str, done: int, total: int) -> str:
    versus = f" against `{baseline}`" if baseline else " against the references"
    return f":test_tube: Evaluating `{candidate}`{versus} on `{dataset}` (validation): {done}/{total} " + progress_bar(
        done / total if total else None
    )


def results(summary: EvalSummary, dataset: str) -> tuple[list[Block], str]:
    headline = summary.headline().text
    blocks: list[Block] = [
        HeaderBlock(text="Evaluation results"),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{headline}*\non `{dataset}`, {summary.items} held-out examples{_memory(summary.memory)}"
            )
        ),
        SectionBlock(
            fields=[MarkdownTextObject(text=_metrics("Candidate", summary.candidate))]
            + ([MarkdownTextObject(text=_metrics("Baseline", summary.baseline))] if summary.baseline else [])
        ),
    ]
    if summary.judge is not None:
        j = summary.judge
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"*Judge:* {j.wins} wins · {j.ties} ties · {j.losses} losses for `{summary.candidate_model}`"
                    f" ({j.disagreed} orders disagreed, {j.unsure} unsure)"
                )
            )
        )
    if summary.task == "labels" and summary.candidate.classes:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_classes(summary.candidate))))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(text="Per-item results are in the JSONL file in this thread. Costs are estimates.")
            ]
        )
    )
    return blocks, f"Evaluation of {summary.candidate_model}: {headline}"


def _metrics(role: str, metrics: ModelMetrics) -> str:
    lines = [f"*{role}:* `{metrics.model}`"]
    if metrics.accuracy is not None:
        lines.append(f"accuracy {metrics.accuracy:.3f} · macro-F1 {_score(metrics.macro_f1)}")
    lines += [
        f"exact match {_score(metrics.exact_match)} · token F1 {_score(metrics.token_f1)}",
        f"latency p50 {_ms(metrics.latency_p50_ms)} · p95 {_ms(metrics.latency_p95_ms)}",
        f"mean output tokens {_score(metrics.mean_output_tokens, 1)} · cost per 1,000 answers {metrics.cost_text}",
    ]
    if metrics.failed:
        lines.append(f":warning: {plural(metrics.failed, 'call')} failed")
    return "\n".join(lines)


def _classes(metrics: ModelMetrics) -> str:
    rows = [
        f"{c.label[:20]:<20} {c.precision:>5.2f} {c.recall:>5.2f} {c.f1:>5.2f} {c.support:>5}"
        for c in metrics.classes[:MAX_CLASSES]
    ]
    return "```" + f"{'class':<20} {'P':>5} {'R':>5} {'F1':>5} {'n':>5}\n" + "\n".join(rows) + "```"


def _score(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def promoted(change: ModelChange) -> str:
    evaluation = f"\nLatest evaluation: {change.headline}" if change.headline else "\nNo evaluation of it yet."
    forced = f"\n:warning: Forced past the promotion gate: {slack_words(change.reason or '')}" if change.forced else ""
    return (
        f":rocket: <@{change.changed_by}> promoted `{change.model}`: Tuneloop answers with it from the next "
        f"message on. `/tune rollback` returns to the previous model.{evaluation}{forced}"
    )


def _why(change: ModelChange) -> str:
    """A forced promotion's reason and the gate's numbers; a fallback's provider error."""
    if change.forced:
        return " — forced past the gate" + (f": {slack_words(change.reason.splitlines()[0])}" if change.reason else "")
    return f" — {change.reason}" if change.action == "fallback" and change.reason else ""


def rolled_back(change: ModelChange) -> str:
    return (
        f":leftwards_arrow_with_hook: <@{change.changed_by}> rolled back: Tuneloop answers with `{change.model}` again."
    )


def model_history(current: str, history: list[ModelChange]) -> str:
    lines = [f"Tuneloop answers with `{current}`."]
    if not history:
        return lines[0] + " No model has been promoted yet."
    lines.append("*History* (newest first):")
    for change in reversed(history[-15:]):
        evaluation = f" — {change.headline}" if change.headline else ""
        job = f" (job `{change.job_id}`)" if change.job_id else ""
        who = "Tuneloop" if change.action == "fallback" else f"<@{change.changed_by}>"
        lines.append(
            f"• `{change.created_at[:16].replace('T', ' ')}` {change.action} `{change.model}`{job} "
            f"by {who}{evaluation}{_why(change)}"
        )
    return "\n".join(lines)


def _memory(memory: bool | None) -> str:
    """Every model was given the same team memories (or none): which way the comparison was made."""
    if memory is None:
        return ""
    return ", with team memory (validation threads excluded)" if memory else ", without team memory"
