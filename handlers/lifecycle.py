"""`/tune promote` (through the gate), `/tune model`, `/tune canary`, and lifecycle notices posted to Slack."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.jobs import post_preflight_card
from handlers.tune import Invocation, Runner, Spawn
from render import evaluations as render_evaluations
from render import lifecycle as render
from render.help import failure
from render.ids import MIGRATION_PROMOTE
from tuning.errors import TuningError
from tuning.release.lifecycle.canary import CanaryReport
from tuning.release.lifecycle.notices import ShutdownWarning
from tuning.release.lifecycle.service import Lifecycle
from tuning.release.lifecycle.successor import SuccessorMigrations
from tuning.release.promotion import ModelChange, PromotionRefused, Promotions
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView


def runners(promotions: Promotions, lifecycle: Lifecycle, jobs: JobService) -> dict[str, Runner]:

    async def promote(call: Invocation) -> None:
        options = call.command.options
        change = await promotions.promote(
            call.command.args["MODEL|JOB"],
            user=call.user,
            force=options.get("force") == "yes",
            reason=options.get("reason"),
            channel=call.channel,
        )
        await call.client.chat_postMessage(channel=call.channel, text=render_evaluations.promoted(change))

    async def model(call: Invocation) -> None:
        current, history = await promotions.current(), await promotions.history()
        await call.reply(render.model_status(current, history, await lifecycle.watch.watched()))

    async def canary(call: Invocation) -> None:
        word = call.command.args.get("MODEL|promote|stop")
        if word is None:
            report = await lifecycle.canary.report()
            if report is None:
                await call.reply(render.no_canary(await promotions.current()))
                return
            blocks, text = render.canary_blocks(report)
            await call.reply(text, blocks)
        elif word == "promote":
            change = await lifecycle.canary.promote(user=call.user, channel=call.channel)
            await call.client.chat_postMessage(channel=call.channel, text=render_evaluations.promoted(change))
        elif word == "stop":
            stopped = await lifecycle.canary.stop(user=call.user)
            await call.client.chat_postMessage(channel=call.channel, text=render.canary_stopped(stopped, call.user))
        else:
            started = await lifecycle.canary.start(word, share=call.command.options.get("share"), user=call.user)
            await call.client.chat_postMessage(
                channel=call.channel, text=render.canary_started(started, await promotions.current())
            )

    async def migrate(call: Invocation) -> None:
        options = call.command.options
        story = await lifecycle.migrations.start(
            to=options.get("to"), model=options.get("model"), user=call.user, channel=call.channel
        )
        await post_preflight_card(jobs, call.client, story.job)
        blocks, text = render.migration_card(story)
        posted = await call.client.chat_postMessage(channel=call.channel, blocks=blocks, text=text)
        await lifecycle.migrations.card_posted(story.job.id, str(posted["ts"]))

    return {"promote": promote, "model": model, "canary": canary, "migrate": migrate}


def register(app: AsyncApp, migrations: SuccessorMigrations, spawn: Spawn) -> None:
    async def on_promote(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        spawn(_promote_migration(migrations, client, respond, action.get("value", ""), body["user"]["id"]))

    app.action(MIGRATION_PROMOTE)(on_promote)


async def _promote_migration(
    migrations: SuccessorMigrations, client: AsyncWebClient, respond: AsyncRespond, job_id: str, user: str
) -> None:
    """The migration card's Promote: through the gate; a refusal goes to the person who clicked."""
    try:
        change = await migrations.promote(job_id, user=user)
    except TuningError as error:
        await respond(response_type="ephemeral", replace_original=False, text=failure(str(error)))
        if isinstance(error, PromotionRefused):
            await update_migration_card(migrations, client, job_id)
        return
    await client.chat_postMessage(channel=change.channel or "", text=render_evaluations.promoted(change))
    await update_migration_card(migrations, client, job_id)


async def update_migration_card(migrations: SuccessorMigrations, client: AsyncWebClient, job_id: str) -> None:
    story = await migrations.story(job_id)
    if story.card_ts:
        blocks, text = render.migration_card(story)
        await client.chat_update(channel=story.channel, ts=story.card_ts, blocks=blocks, text=text)


async def after_migration_evaluated(
    migrations: SuccessorMigrations, client: AsyncWebClient, job: JobView, evaluation_id: int
) -> None:
    """The comparison and what the gate says, in the job's thread; the migration card brought up to date."""
    check = await migrations.evaluated(job.id, evaluation_id)
    await client.chat_postMessage(channel=job.channel, thread_ts=job.card_ts, text=render.gate_verdict(check))
    await update_migration_card(migrations, client, job.id)


class SlackLifecyclePublisher:
    """tuning.release.lifecycle.notices.LifecyclePublisher over the Web API."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def shutdown_warning(self, channel: str, warning: ShutdownWarning, admins: frozenset[str]) -> None:
        await self._client.chat_postMessage(channel=channel, text=render.shutdown_warning(warning, admins))

    async def fell_back(self, channel: str, gone: str, change: ModelChange) -> None:
        await self._client.chat_postMessage(channel=channel, text=render.fell_back(gone, change))

    async def canary_card(self, channel: str, report: CanaryReport) -> None:
        blocks, text = render.canary_blocks(report)
        await self._client.chat_postMessage(channel=channel, text=text, blocks=blocks)
