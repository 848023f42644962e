"""Slack listeners, one module per feature. Handlers parse, call one service, render, post."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from slack_bolt.async_app import AsyncApp

from handlers import (
    assistant,
    corrections,
    datasets,
    endpoints,
    errors,
    evaluations,
    harvest,
    jobs,
    lifecycle,
    messages,
    privacy,
    reactions,
    review,
    stats,
    tune,
)
from handlers.grammar import Grammar
from handlers.inbox import REPLAY_KEY, PersistThenAck
from handlers.respond import RetryResponds
from handlers.services import Services
from handlers.tune import Runner, Spawn
from render.assistant import DEFAULT_SUGGESTED_PROMPTS


def register(app: AsyncApp, services: Services, *, spawn: Spawn, on_event_stored: Callable[[], None],
             suggested_prompts: Sequence[str] = DEFAULT_SUGGESTED_PROMPTS, grammar: Grammar | None = None) -> None:
    """Each feature's module gets only the services it uses. `grammar`: bot/ builds it from every known
    back-end's spec; without one, `/tune` offers the back-ends configured here."""
    app.use(PersistThenAck(services.inbox, on_event_stored))
    app.use(RetryResponds())
    app.assistant(assistant.build(services.answers, suggested_prompts))  # after the inbox: pane events are stored first
    errors.register(app)
    messages.register(app, services.answers, services.privacy)
    reactions.register(app, services.capture)
    corrections.register(app, services.corrections, services.inbox, on_event_stored)
    review.register(app, services.review)
    stats.register(app, services.insights, services.current_model, services.lifecycle.canary.report)
    jobs.register(app, services.jobs, services.wake_monitor, spawn)
    lifecycle.register(app, services.lifecycle.migrations, spawn)
    endpoints.register(app, services.endpoints, services.jobs, services.wake_monitor, spawn)
    tune.register(app, slash_runners(services), spawn, grammar or Grammar(services.jobs.trainer_names))


def slash_runners(services: Services) -> dict[str, Runner]:
    """Every `/tune` subcommand but `help`, which the dispatcher answers itself."""
    return {
        **review.runners(services.review), **stats.runners(services.insights), **harvest.runners(services.harvester),
        **datasets.runners(services.datasets), **jobs.runners(services.jobs, services.wake_monitor),
        **evaluations.runners(services.evaluations, services.promotions), **lifecycle.runners(services.promotions, services.lifecycle, services.jobs),
        **endpoints.runners(services.endpoints, services.wake_monitor),
        **privacy.runners(services.privacy),
    }


__all__ = ["REPLAY_KEY", "Services", "register", "slash_runners"]
