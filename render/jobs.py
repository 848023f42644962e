"""The pre-flight card, the live job card, and job lists."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from render.datasets import ERASED
from render.ids import JOB_CANCEL, JOB_DEPLOY, JOB_DISMISS, JOB_START
from render.text import excerpt
from tuning.training.jobs.view import JobView

STATE_ICONS = {
    "preflight": ":clipboard:",
    "dismissed": ":heavy_multiplication_x:",
    "starting": ":rocket:",
    "pending": ":hourglass_flowing_sand:",
    "running": ":gear:",
    "cancelling": ":octagonal_sign:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
}
BAR_WIDTH = 20


def money(usd: float | None) -> str:
    return "n/a" if usd is None else f"${usd:,.2f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def progress_bar(fraction: float | None) -> str:
    if fraction is None:
        return "`" + "░" * BAR_WIDTH + "`"
    filled = round(fraction * BAR_WIDTH)
    return "`" + "█" * filled + "░" * (BAR_WIDTH - filled) + f"` {fraction:.0%}"


def _plan_fields(job: JobView) -> list[str]:
    tokens = f" ({job.tokens_note})" if job.tokens_note else ""
    return [
        f"*Dataset*\n`{job.dataset}`",
        f"*Trainer*\n{job.trainer}",
        f"*Base model*\n`{job.base_model}`",
        f"*Method*\n{job.method.upper()}",
        f"*Examples*\n{job.examples:,}",
        f"*Tokens*\n{job.tokens:,}{tokens}",
        f"*Epochs*\n{job.epochs}",
        f"*Estimated cost*\n{money(job.estimated_cost)} ({job.cost_note or 'estimate'})",
    ]


def preflight_card(job: JobView) -> tuple[list[Block], str]:
    blocks: list[Block] = [
        HeaderBlock(text=f"Fine-tune on {job.dataset}?"),
        SectionBlock(fields=[MarkdownTextObject(text=field) for field in _plan_fields(job)]),
    ]
    if job.warnings:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(f":warning: {w}" for w in job.warnings))))
    if job.state == "preflight":
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Start",
                        action_id=JOB_START,
                        value=job.id,
                        style="primary",
                        confirm=ConfirmObject(
                            title="Start fine-tuning?", text=_start_confirmation(job), confirm="Start", deny="Not yet"
                        ),
                    ),
                    ButtonElement(text="Cancel", action_id=JOB_DISMISS, value=job.id),
                ]
            )
        )
    blocks.append(_context(job, f"Requested by <@{job.requested_by}>. Only admins can start it."))
    return blocks, f"Fine-tune on {job.dataset}: {job.examples} examples, about {money(job.estimated_cost)}"


def _start_confirmation(job: JobView) -> str:
    if job.self_hosted:  # not a provider's bill: time on the team's own (or rented) GPUs
        return f"This starts training on your own hardware with the `{job.trainer}` trainer ({job.cost_note})."
    return f"This starts a paid job (about {money(job.estimated_cost)})."


def job_card(job: JobView, now: datetime) -> tuple[list[Block], str]:
    if job.state in ("preflight", "dismissed"):
        return preflight_card(job) if job.state == "preflight" else _dismissed(job)
    icon = STATE_ICONS.get(job.state, ":grey_question:")
    blocks: list[Block] = [
        HeaderBlock(text=f"Fine-tuning {job.dataset} on {job.trainer}"),
        SectionBlock(text=MarkdownTextObject(text=f"{icon} *{job.state.capitalize()}*" + _raw(job))),
        SectionBlock(fields=[MarkdownTextObject(text=field) for field in _progress_fields(job, now)]),
    ]
    outcome = _outcome(job)
    if outcome:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=outcome)))
    if job.state == "succeeded" and job.dedicated:
        blocks.append(
            ActionsBlock(elements=[ButtonElement(text="Deploy", action_id=JOB_DEPLOY, value=job.id, style="primary")])
        )
    if job.is_active and job.state != "cancelling":
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Cancel job",
                        action_id=JOB_CANCEL,
                        value=job.id,
                        style="danger",
                        confirm=ConfirmObject(
                            title="Cancel this job?",
                            text="The provider stops training.",
                            confirm="Cancel job",
                            deny="Keep going",
                        ),
                    )
                ]
            )
        )
    blocks.append(_context(job, f"Started by <@{job.started_by}>" if job.started_by else ""))
    return blocks, f"{job.id}: {job.state} ({job.dataset} on {job.trainer})"


def _raw(job: JobView) -> str:
    return f" (provider: `{job.raw_status}`)" if job.raw_status and job.raw_status != job.state else ""


def _progress_fields(job: JobView, now: datetime) -> list[str]:
    step = f"{job.step}/{job.total_steps}" if job.step and job.total_steps else "–"
    return [
        f"*Progress*\n{progress_bar(job.progress)}",
        f"*Step*\n{step}",
        f"*Epoch*\n{job.epoch:g} of {job.epochs}" if job.epoch else f"*Epochs*\n{job.epochs}",
        f"*Loss*\ntrain {_loss(job.train_loss)} · validation {_loss(job.valid_loss)}",
        f"*Elapsed*\n{duration(job.elapsed_seconds(now))}",
        f"*ETA*\n{duration(job.eta_seconds(now))}",
    ]


def _loss(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _outcome(job: JobView) -> str | None:
    if job.state == "succeeded":
        tokens = f"{job.trained_tokens:,}" if job.trained_tokens is not None else "n/a"
        after = (
            f"{job.trainer.capitalize()} serves it only on a dedicated endpoint: *Deploy* it (priced per hour), then "
            f"`/tune promote {job.id}`."
            if job.dedicated
            else f"Promote it with `/tune promote {job.id}`."
        )
        serving = f"\n:warning: {job.serving_note}" if job.serving_note else ""
        return (
            f"*Tuned model:* `{job.fine_tuned_model}`\n*Trained tokens:* {tokens} · {_cost_line(job)}\n{after}{serving}"
        )
    if job.state == "failed":
        code = f"`{job.error_code}`: " if job.error_code else ""
        return f"*The provider stopped the job.* {code}{excerpt(job.error_message or 'no reason given', 600)}"
    if job.state == "cancelled":
        return f"Cancelled by <@{job.cancelled_by}>." if job.cancelled_by else "Cancelled at the provider."
    return None


def _cost_line(job: JobView) -> str:
    """Self-hosted: the GPU-hours the run took beside the estimate it was started on."""
    if job.self_hosted and job.gpu_hours is not None:
        return f"*GPU time:* {job.gpu_hours:.3g} GPU-hours measured (estimated before the start: {job.cost_note})"
    return f"*Cost:* {money(job.cost_usd)} (estimate)"


def _dismissed(job: JobView) -> tuple[list[Block], str]:
    text = (
        f"{STATE_ICONS['dismissed']} Not started: dismissed by <@{job.cancelled_by}>."
        if job.cancelled_by
        else "Not started."
    )
    return [
        HeaderBlock(text=f"Fine-tune on {job.dataset}"),
        SectionBlock(text=MarkdownTextObject(text=text)),
        _context(job, ""),
    ], text


def _context(job: JobView, extra: str) -> ContextBlock:
    provider = f" · provider job `{job.provider_job_id}`" if job.provider_job_id else ""
    text = f"Job `{job.id}`{provider}" + (f" · {extra}" if extra else "") + _erased(job)
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def state_label(state: str) -> str:
    """A job's state as people read it: "preflight" is only a name for the checks before Start."""
    return "waiting for Start" if state == "preflight" else state


def jobs_list(jobs: list[JobView]) -> str:
    if not jobs:
        return "No fine-tuning jobs yet. Start one with `/tune train DATASET`."
    lines = [
        f"{STATE_ICONS.get(j.state, '')} `{j.id}` {state_label(j.state)} · {j.dataset} · {j.trainer}"
        f" `{j.base_model}`" + (f" → `{j.fine_tuned_model}`" if j.fine_tuned_model else "") + _erased(j)
        for j in jobs
    ]
    return "*Recent jobs*\n" + "\n".join(lines)


def job_status(job: JobView, now: datetime) -> str:
    lines = [
        f"{STATE_ICONS.get(job.state, '')} Job `{job.id}` is *{state_label(job.state)}*{_raw(job)}: "
        f"{job.dataset} on {job.trainer} `{job.base_model}`{_erased(job)}",
        f"Progress: {progress_bar(job.progress)}",
    ]
    outcome = _outcome(job)
    return "\n".join(lines + ([outcome] if outcome else []))


def _erased(job: JobView) -> str:
    return f" · {ERASED}" if job.erased else ""


def event_message(level: str, message: str) -> str:
    icon = ":warning:" if level in ("warn", "warning", "error") else ":information_source:"
    return f"{icon} {excerpt(message, 2900)}"
