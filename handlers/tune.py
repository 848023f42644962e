"""`/tune`: parse, acknowledge at once, run the subcommand after."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.grammar import Command, Grammar
from render import help as help_render
from render.ids import COMMAND
from tuning.errors import TuningError, UsageError

log = logging.getLogger(__name__)
Spawn = Callable[[Coroutine[Any, Any, Any]], None]


@dataclass(frozen=True)
class Invocation:
    """One `/tune` call, parsed, with what a subcommand needs to answer it."""

    command: Command
    user: str
    channel: str
    respond: AsyncRespond
    client: AsyncWebClient
    context: AsyncBoltContext

    async def reply(self, text: str, blocks: list | None = None) -> None:
        """An ephemeral answer to the person who typed the command."""
        await self.respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)


Runner = Callable[[Invocation], Awaitable[None]]


def register(app: AsyncApp, runners: dict[str, Runner], spawn: Spawn, grammar: Grammar) -> None:
    async def on_tune(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        try:
            parsed = grammar.parse(command.get("text", ""))
        except UsageError as error:
            await ack(response_type="ephemeral", text=help_render.usage_error(str(error), error.usage))
            return
        if parsed.name == "help":
            await ack(response_type="ephemeral", text=help_render.help_message(grammar.help_text()))
            return
        runner = runners[parsed.name]
        await ack()
        invocation = Invocation(
            parsed, command.get("user_id", ""), command.get("channel_id", ""), respond, client, context
        )
        spawn(_run(runner, invocation))

    app.command(COMMAND)(on_tune)


async def _run(runner: Runner, invocation: Invocation) -> None:
    try:
        await runner(invocation)
    except TuningError as error:
        await invocation.reply(help_render.failure(str(error)))
    except Exception:
        log.exception("/tune %s failed", invocation.command.name)
        await invocation.reply(help_render.INTERNAL_ERROR)
