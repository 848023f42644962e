"""`/tune`: parse, acknowledge at once, run the subcommand after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from render import help as help_render
from render.ids import COMMAND
from tuning import grammar
from tuning.errors import TuningError, UsageError
from tuning.grammar import Command
from tuning.services import Services

Spawn = Callable[[Coroutine[Any, Any, None]], None]
Runner = Callable[[Command, dict[str, Any], AsyncRespond], Awaitable[None]]

# Subcommands register here as their features land; the rest answer "not available yet".
RUNNERS: dict[str, Runner] = {}


def register(app: AsyncApp, services: Services, spawn: Spawn) -> None:
    async def on_tune(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            parsed = grammar.parse(command.get("text", ""))
        except UsageError as error:
            await ack(response_type="ephemeral", text=help_render.usage_error(str(error), error.usage))
            return
        if parsed.name == "help":
            await ack(response_type="ephemeral", text=help_render.help_message())
            return
        runner = RUNNERS.get(parsed.name)
        if runner is None:
            await ack(response_type="ephemeral", text=help_render.not_available(parsed.name))
            return
        await ack()
        spawn(_run(runner, parsed, command, respond))

    app.command(COMMAND)(on_tune)


async def _run(runner: Runner, parsed: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    try:
        await runner(parsed, command, respond)
    except TuningError as error:
        await respond(response_type="ephemeral", replace_original=False, text=help_render.failure(str(error)))
