"""Slack listeners, one module per feature. Handlers parse, call one service, render, post."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt.async_app import AsyncApp

from handlers import (
    corrections, datasets, errors, evaluations, harvest, jobs, messages, reactions, review, stats, tune,
)
from handlers.inbox import REPLAY_KEY, PersistThenAck
from handlers.respond import RetryResponds
from handlers.tune import Runner, Spawn
from tuning.services import Services


def register(app: AsyncApp, services: Services, *, spawn: Spawn, on_event_stored: Callable[[], None]) -> None:
    app.use(PersistThenAck(services.inbox, on_event_stored))
    app.use(RetryResponds())
    errors.register(app)
    messages.register(app, services)
    reactions.register(app, services)
    corrections.register(app, services, spawn)
    review.register(app, services)
    stats.register(app, services)
    jobs.register(app, services, spawn)
    tune.register(app, slash_runners(services), spawn)


def slash_runners(services: Services) -> dict[str, Runner]:
    """Every `/tune` subcommand but `help`, which the dispatcher answers itself."""
    return {
        **review.runners(services), **stats.runners(services), **harvest.runners(services),
        **datasets.runners(services), **jobs.runners(services), **evaluations.runners(services),
    }


__all__ = ["REPLAY_KEY", "register", "slash_runners"]
