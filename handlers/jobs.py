"""`/tune train`, `jobs`, `status`, `cancel`, the card's buttons, and the publisher the job monitor posts through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.posting import post_once, tag
from handlers.tune import Invocation, Runner, Spawn
from render import charts
from render import jobs as render
from render.help import failure
from render.ids import JOB_CANCEL, JOB_DISMISS, JOB_START
from tuning.errors import TuningError
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView
from tuning.training.trainers import MetricPoint, TrainOptions


def _now() -> datetime:
    return datetime.now(UTC)


def runners(job_service: JobService, wake_monitor: Callable[[], None]) -> dict[str, Runner]:
    async def train(call: Invocation) -> None:
        job = await job_service.preflight(
            call.command.args["DATASET"], TrainOptions(**call.command.fields()), user=call.user, channel=call.channel
        )
        await post_preflight_card(job_service, call.client, job)

    async def jobs(call: Invocation) -> None:
        await call.reply(render.jobs_list(await job_service.recent()))

    async def status(call: Invocation) -> None:
        await call.reply(render.job_status(await job_service.find(call.command.args["JOB"]), _now()))

    async def cancel(call: Invocation) -> None:
        job = await job_service.cancel(call.command.args["JOB"], user=call.user)
        await _update_card(call.client, job)
        wake_monitor()
        await call.reply(f"Job `{job.id}` is {job.state}.")

    return {"train": train, "jobs": jobs, "status": status, "cancel": cancel}


async def post_preflight_card(job_service: JobService, client: AsyncWebClient, job: JobView) -> None:
    """The card with Start and Cancel that a job waits on."""
    blocks, text = render.preflight_card(job)
    try:
        ts = await post_once(
            client, channel=job.channel, blocks=blocks, text=text, metadata=tag("tuneloop_job_card", str(job.id))
        )
    except SlackApiError as error:
        raise TuningError("Tuneloop can't post the job card here: invite it with `/invite @tuneloop`.") from error
    await job_service.card_posted(job.id, ts)


def register(app: AsyncApp, job_service: JobService, wake_monitor: Callable[[], None], spawn: Spawn) -> None:
    def on_button(act: Callable[[str, str], Any]):
        async def handle(
            ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
        ) -> None:
            await ack()
            spawn(_act(act, action.get("value", ""), body["user"]["id"], respond, client, job_service, wake_monitor))

        return handle

    app.action(JOB_START)(on_button(lambda job_id, user: job_service.start(job_id, user=user)))
    app.action(JOB_DISMISS)(on_button(lambda job_id, user: job_service.dismiss(job_id, user=user)))
    app.action(JOB_CANCEL)(on_button(lambda job_id, user: job_service.cancel(job_id, user=user)))


async def _act(
    act: Callable[[str, str], Any],
    job_id: str,
    user: str,
    respond: AsyncRespond,
    client: AsyncWebClient,
    job_service: JobService,
    wake_monitor: Callable[[], None],
) -> None:
    try:
        job = await act(job_id, user)
    except TuningError as error:
        await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
        job = await _job_or_none(job_service, job_id)
    wake_monitor()
    if job is not None:
        await _update_card(client, job)


async def _job_or_none(job_service: JobService, job_id: str) -> JobView | None:
    try:
        return await job_service.find(job_id)
    except TuningError:
        return None


async def _update_card(client: AsyncWebClient, job: JobView) -> None:
    if job.card_ts:
        blocks, text = render.job_card(job, _now())
        await client.chat_update(channel=job.channel, ts=job.card_ts, blocks=blocks, text=text)


class SlackJobPublisher:
    """tuning.training.jobs.monitor.JobPublisher over the Web API: the card, its thread, the loss curve."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def update_card(self, job: JobView) -> None:
        await _update_card(self._client, job)

    async def post_in_thread(self, job: JobView, text: str, *, level: str) -> None:
        await self._client.chat_postMessage(
            channel=job.channel, thread_ts=job.card_ts, text=render.event_message(level, text)
        )

    async def finished(self, job: JobView, metrics: list[MetricPoint]) -> None:
        if job.state == "succeeded":
            await self._client.files_upload_v2(
                channel=job.channel,
                thread_ts=job.card_ts,
                content=charts.loss_curve(metrics),
                filename=f"{job.id}-loss.png",
                title=f"Loss curve of {job.fine_tuned_model}",
            )
