"""Together endpoints in Slack: hardware to choose from, the list, and what happened to one."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from render.ids import ENDPOINT_CREATE
from render.words import slack_words
from tuning.training.endpoints import EndpointView, start_command
from tuning.training.jobs.view import JobView
from tuning.training.trainers.features import Hardware

STATE_ICONS = {
    "PENDING": ":hourglass_flowing_sand:",
    "STARTING": ":hourglass_flowing_sand:",
    "STARTED": ":large_green_circle:",
    "STOPPING": ":octagonal_sign:",
    "STOPPED": ":black_circle:",
    "ERROR": ":x:",
    "DELETED": ":wastebasket:",
}


def per_hour(usd: float | None) -> str:
    return "price unknown" if usd is None else f"${usd:,.2f}/h"


def hardware_choices(job: JobView, offers: list[Hardware], idle_minutes: int) -> tuple[list[Block], str]:
    """One button per offer; its value carries the job and the hardware, so the click needs no state."""
    text = (
        f"Deploy `{job.fine_tuned_model}` to a Together dedicated endpoint (1 replica). It bills per minute "
        f"while it runs and stops itself after {idle_minutes} idle minutes. Pick the hardware:"
    )
    buttons = [
        ButtonElement(
            text=f"{offer.gpu} · {per_hour(offer.usd_per_hour)}"[:75],
            action_id=f"{ENDPOINT_CREATE}:{offer.id}",
            value=f"{job.id} {offer.id}",
            confirm=ConfirmObject(
                title="Create a paid endpoint?",
                confirm="Deploy",
                deny="Not now",
                text=f"It costs about {per_hour(offer.usd_per_hour)} while it runs.",
            ),
        )
        for offer in offers
        if offer.available
    ]
    if not buttons:
        return [
            SectionBlock(text=MarkdownTextObject(text="Together has no hardware free for this model right now."))
        ], text
    return [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=buttons[:25])], text


def created(view: EndpointView) -> str:
    return (
        f":rocket: Creating Together endpoint `{view.id}` for `{view.model}` on `{view.hardware}` "
        f"({per_hour(view.usd_per_hour)}, stops itself after {view.inactive_timeout} idle minutes). "
        "I'll say here when it is ready."
    )


def ready(view: EndpointView) -> str:
    return (
        f":large_green_circle: Endpoint `{view.id}` is running: the model answers as `{view.name}` "
        f"({per_hour(view.usd_per_hour)} while it runs). Evaluation and `/tune promote {view.job_id}` go "
        "through this endpoint name."
    )


def changed(view: EndpointView, verb: str) -> str:
    return f"{STATE_ICONS.get(view.state, '')} Endpoint `{view.id}` ({view.name}) {verb}: now {view.state.lower()}."


def endpoints_list(views: list[EndpointView]) -> str:
    if not views:
        return "Tuneloop has no Together endpoints. Deploy a tuned Together model from its job card."
    lines = [
        f"{STATE_ICONS.get(v.state, '')} `{v.id}` *{v.state.lower()}* · `{v.name}` · {v.hardware} · "
        f"{per_hour(v.usd_per_hour)}"
        + (f" · job `{v.job_id}`" if v.job_id else "")
        + (f" · start with {slack_words(start_command(v.id))}" if v.state == "STOPPED" else "")
        for v in views
    ]
    running = sum(v.usd_per_hour or 0 for v in views if v.state in ("PENDING", "STARTING", "STARTED"))
    return "*Together endpoints*\n" + "\n".join(lines) + f"\nRunning now: about ${running:,.2f}/h in all."
