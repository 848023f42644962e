"""Slack listeners, one module per feature. Handlers parse, call one service, render, post."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt.async_app import AsyncApp

from handlers import errors, messages, tune
from handlers.inbox import REPLAY_KEY, inbox_middleware
from handlers.tune import Spawn
from tuning.services import Services


def register(app: AsyncApp, services: Services, *, spawn: Spawn, on_event_stored: Callable[[], None]) -> None:
    app.use(inbox_middleware(services.inbox, on_event_stored))
    errors.register(app)
    messages.register(app, services)
    tune.register(app, services, spawn)


__all__ = ["REPLAY_KEY", "Spawn", "register"]
