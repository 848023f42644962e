"""The job card's Deploy button, the hardware choice, `/tune endpoints`, `/tune endpoint stop|start|delete`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.tune import Invocation, Runner, Spawn
from render import endpoints as render
from render.help import failure
from render.ids import ENDPOINT_CREATE, JOB_DEPLOY
from tuning.errors import TuningError
from tuning.training.endpoints import EndpointService, EndpointView
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView

Wake = Callable[[], None]


def runners(endpoints: EndpointService, wake_monitor: Wake) -> dict[str, Runner]:
    async def listed(call: Invocation) -> None:
        await call.reply(render.endpoints_list(await endpoints.listed()))

    def manage(verb: str, act: Callable[..., Any]) -> Runner:
        async def run(call: Invocation) -> None:
            view = await act(call.command.args["ID"], user=call.user)
            await call.reply(render.changed(view, verb))
            wake_monitor()

        return run

    return {
        "endpoints": listed,
        "endpoint stop": manage("is stopping", endpoints.stop),
        "endpoint start": manage("is starting", endpoints.start),
        "endpoint delete": manage("was deleted", endpoints.delete),
    }


def register(app: AsyncApp, endpoints: EndpointService, jobs: JobService, wake_monitor: Wake, spawn: Spawn) -> None:
    async def on_deploy(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        spawn(_choose(endpoints, action.get("value", ""), body["user"]["id"], respond))

    async def on_create(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        spawn(_create(endpoints, jobs, action.get("value", ""), body["user"]["id"], respond, client))
        wake_monitor()

    app.action(JOB_DEPLOY)(on_deploy)
    app.action(re.compile(f"^{ENDPOINT_CREATE}:"))(on_create)


async def _choose(endpoints: EndpointService, job_id: str, user: str, respond: AsyncRespond) -> None:
    try:
        job, offers = await endpoints.hardware_for(job_id, user=user)
    except TuningError as error:
        await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
        return
    blocks, text = render.hardware_choices(job, offers, endpoints.idle_minutes)
    await respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)


async def _create(
    endpoints: EndpointService, jobs: JobService, value: str, user: str, respond: AsyncRespond, client: AsyncWebClient
) -> None:
    job_id, _, hardware = value.partition(" ")
    try:
        job = await jobs.find(job_id)
        view = await endpoints.deploy(job_id, hardware, user=user, channel=job.channel, thread_ts=job.card_ts)
    except TuningError as error:
        await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
        return
    await respond(response_type="ephemeral", replace_original=True, text=render.created(view))
    if job.card_ts:
        await client.chat_postMessage(channel=job.channel, thread_ts=job.card_ts, text=render.created(view))


def endpoint_ready(jobs: JobService, client: AsyncWebClient, *, evaluate: Callable[[JobView], None]):
    """The monitor's hook when an endpoint first runs: say so where it was deployed, then evaluate through it."""

    async def announce(view: EndpointView) -> None:
        if view.channel:
            await client.chat_postMessage(channel=view.channel, thread_ts=view.thread_ts, text=render.ready(view))
        if view.job_id:
            evaluate(await jobs.find(view.job_id))

    return announce
