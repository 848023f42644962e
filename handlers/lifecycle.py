"""`/tune promote` (through the gate), `/tune model`, `/tune canary`, and lifecycle notices posted to Slack."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from handlers.tune import Invocation, Runner
from render import evaluations as render_evaluations
from render import lifecycle as render
from tuning.lifecycle.canary import CanaryReport
from tuning.lifecycle.notices import ShutdownWarning
from tuning.promotion import ModelChange
from handlers.services import Services


def runners(services: Services) -> dict[str, Runner]:
    lifecycle = services.lifecycle

    async def promote(call: Invocation) -> None:
        options = call.command.options
        change = await services.promotions.promote(
            call.command.args["MODEL|JOB"], user=call.user, force=options.get("force") == "yes",
            reason=options.get("reason"), channel=call.channel)
        await call.client.chat_postMessage(channel=call.channel, text=render_evaluations.promoted(change))

    async def model(call: Invocation) -> None:
        current, history = await services.promotions.current(), await services.promotions.history()
        await call.reply(render.model_status(current, history, await lifecycle.watch.watched()))

    async def canary(call: Invocation) -> None:
        word = call.command.args.get("MODEL|promote|stop")
        if word is None:
            report = await lifecycle.canary.report()
            if report is None:
                await call.reply(render.no_canary(await services.promotions.current()))
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
                channel=call.channel, text=render.canary_started(started, await services.promotions.current()))

    return {"promote": promote, "model": model, "canary": canary}


class SlackLifecyclePublisher:
    """tuning.lifecycle.notices.LifecyclePublisher over the Web API."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def shutdown_warning(self, channel: str, warning: ShutdownWarning, admins: frozenset[str]) -> None:
        await self._client.chat_postMessage(channel=channel, text=render.shutdown_warning(warning, admins))

    async def fell_back(self, channel: str, gone: str, change: ModelChange) -> None:
        await self._client.chat_postMessage(channel=channel, text=render.fell_back(gone, change))

    async def canary_card(self, channel: str, report: CanaryReport) -> None:
        blocks, text = render.canary_blocks(report)
        await self._client.chat_postMessage(channel=channel, text=text, blocks=blocks)
