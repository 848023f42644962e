"""Slack listeners, one module per feature. Handlers parse, call one service, render, post."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from handlers import (
    assistant,
    corrections,
    datasets,
    endpoints,
    errors,
    evaluations,
    feedback_reasons,
    harvest,
    jobs,
    lifecycle,
    memory,
    messages,
    privacy,
    quality,
    reactions,
    review,
    stats,
    tune,
)
from handlers.grammar import Grammar
from handlers.inbox import REPLAY_KEY, PersistThenAck
from handlers.message_edits import EditsAndDeletions
from handlers.respond import RetryResponds
from handlers.services import Services
from handlers.slack_io import slack_error
from handlers.stream_budget import LocalStreamBudget, StreamBudget
from handlers.tune import Runner, Spawn
from render.assistant import DEFAULT_SUGGESTED_PROMPTS

log = logging.getLogger(__name__)


def register(
    app: AsyncApp,
    services: Services,
    *,
    spawn: Spawn,
    on_event_stored: Callable[[], None],
    suggested_prompts: Sequence[str] = DEFAULT_SUGGESTED_PROMPTS,
    grammar: Grammar | None = None,
    budget: StreamBudget | None = None,
) -> None:
    """Each feature's module gets only the services it uses. `grammar`: bot/ builds it from every known
    back-end's spec; without one, `/tune` offers the back-ends configured here. `budget`: Slack's streaming
    calls (this process's own unless given: bot gives replicas on one database a shared one)."""
    app.use(PersistThenAck(services.inbox, on_event_stored))
    app.use(RetryResponds())
    app.use(EditsAndDeletions(services.privacy))  # before the assistant, which drops them in DM threads
    setup = messages.AnswerSetup(budget or LocalStreamBudget(), admin_notices(app, services))
    app.assistant(
        assistant.build(services.answers, suggested_prompts, setup)
    )  # after the inbox: pane events are stored first
    errors.register(app)
    messages.register(app, services.answers, setup)
    reactions.register(app, services.capture, services.feedback_reasons)
    feedback_reasons.register(app, services.feedback_reasons)
    corrections.register(app, services.corrections, services.inbox, on_event_stored)
    review.register(app, services.review, services.memory)
    stats.register(app, services.insights, services.current_model, services.lifecycle.canary.report)
    jobs.register(app, services.jobs, services.wake_monitor, spawn)
    lifecycle.register(app, services.lifecycle.migrations, spawn)
    endpoints.register(app, services.endpoints, services.jobs, services.wake_monitor, spawn)
    tune.register(app, slash_runners(services), spawn, grammar or Grammar(services.jobs.trainer_names))


def admin_notices(app: AsyncApp, services: Services) -> messages.TellAdmins:
    """Tell the admins something once (the key is kept in the database, so replicas share it): in the
    announcement channel, or else in a DM to each."""

    async def tell(key: str, text: str) -> None:
        if not await services.answers.first_notice(key):
            return
        channel = await services.lifecycle.announcements.channel()
        for target in [channel] if channel else sorted(services.admins):
            try:
                await app.client.chat_postMessage(channel=target, text=text)
            except SlackApiError as error:
                log.warning("could not tell the admins (%s) in %s: %s", key, target, slack_error(error))

    return tell


def slash_runners(services: Services) -> dict[str, Runner]:
    """Every `/tune` subcommand but `help`, which the dispatcher answers itself."""
    return {
        **review.runners(services.review, services.memory),
        **stats.runners(services.insights),
        **harvest.runners(services.harvester),
        **datasets.runners(services.datasets),
        **jobs.runners(services.jobs, services.wake_monitor),
        **evaluations.runners(services.evaluations, services.promotions),
        **lifecycle.runners(services.promotions, services.lifecycle, services.jobs),
        **endpoints.runners(services.endpoints, services.wake_monitor),
        **privacy.runners(services.privacy),
        **memory.runners(services.memory),
        **quality.runners(services.quality),
    }


__all__ = ["REPLAY_KEY", "Services", "register", "slash_runners"]
