"""`/tune harvest #channel [days:N]`: backfill examples from a channel's history, reporting as it goes."""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError

from handlers.slack_reader import WebApiReader
from handlers.tune import Invocation, Runner
from render import harvest as render
from tuning.capture.harvest import Harvester
from tuning.values import HarvestReport

PROGRESS_EVERY_SECONDS = 3.0
DEFAULT_DAYS = 30


def runners(harvester: Harvester) -> dict[str, Runner]:
    async def harvest(call: Invocation) -> None:
        channel = call.command.args["#channel"]
        days = call.command.options.get("days", DEFAULT_DAYS)
        progress = await _ProgressMessage.start(call, render.harvest_started(channel.id or str(channel), days))
        report = await harvester.run(channel, days, WebApiReader.from_context(call.context), progress.update)
        await progress.update(report, force=True)

    return {"harvest": harvest}


class _ProgressMessage:
    """One message in the channel the command came from, edited as the harvest goes (ephemeral if it can't post)."""

    def __init__(self, call: Invocation, ts: str | None) -> None:
        self._call = call
        self._ts = ts
        self._last = 0.0

    @classmethod
    async def start(cls, call: Invocation, text: str) -> _ProgressMessage:
        try:
            response = await call.client.chat_postMessage(channel=call.channel, text=text)
            return cls(call, str(response["ts"]))
        except SlackApiError:
            await call.reply(text)
            return cls(call, None)

    async def update(self, report: HarvestReport, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        text = render.harvest_progress(report)
        if self._ts:
            await self._call.client.chat_update(channel=self._call.channel, ts=self._ts, text=text)
        elif report.finished:
            await self._call.reply(text)
