"""manifest.yml and the registered listeners agree, both ways."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.fakes import FakeOpenAI, FakeSlack
from bot.runtime import build_services, model_router, trainers_for
from handlers.lifecycle import SlackLifecyclePublisher
from handlers.services import Services
from storage import migrate, open_database
from tests.conftest import make_settings, strict_openai

MANIFEST = yaml.safe_load((Path(__file__).parents[1] / "manifest.yml").read_text())


class RecordingApp(AsyncApp):
    """An AsyncApp that remembers what each listener was registered for."""

    def __init__(self) -> None:
        super().__init__(token="xoxb-test", signing_secret="s")
        self.registered: dict[str, set[str]] = {"event": set(), "command": set(), "shortcut": set()}

    def event(self, event: Any, *args: Any, **kwargs: Any):  # type: ignore[override]
        self.registered["event"].add(event)
        return super().event(event, *args, **kwargs)

    def assistant(self, assistant: Any):  # type: ignore[override]
        self.registered["event"].add("assistant_thread_started")  # AsyncAssistant's thread_started listener
        return super().assistant(assistant)

    def command(self, command: Any, *args: Any, **kwargs: Any):  # type: ignore[override]
        self.registered["command"].add(command)
        return super().command(command, *args, **kwargs)

    def shortcut(self, constraints: Any, *args: Any, **kwargs: Any):  # type: ignore[override]
        self.registered["shortcut"].add(constraints)
        return super().shortcut(constraints, *args, **kwargs)


async def registered_services(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> Services:
    settings = make_settings(tmp_path, slack, oai)
    db = await open_database(settings.db_path)
    await migrate(db)
    llm = strict_openai(settings)
    services = build_services(
        settings,
        db,
        model_router(settings, llm, None),
        trainers_for(settings, llm),
        asyncio.Event(),
        publisher=SlackLifecyclePublisher(AsyncWebClient(token="xoxb-test-token")),
    )
    await db.close()
    return services


async def registered(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> dict[str, set[str]]:
    app = RecordingApp()
    services = await registered_services(tmp_path, slack, oai)
    handlers.register(app, services, spawn=lambda c: c.close(), on_event_stored=lambda: None)
    return app.registered


def manifest_events() -> set[str]:
    # message.im, message.channels and message.groups all arrive as the `message` event
    return {name.split(".")[0] for name in MANIFEST["settings"]["event_subscriptions"]["bot_events"]}


async def test_every_manifest_event_command_and_shortcut_has_a_listener_and_vice_versa(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    listeners = await registered(tmp_path, slack, oai)
    assert listeners["event"] == manifest_events()
    assert listeners["command"] == {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert listeners["shortcut"] == {s["callback_id"] for s in MANIFEST["features"]["shortcuts"]}


def test_manifest_follows_the_interface() -> None:
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/tune" and command["should_escape"] is True
    (shortcut,) = MANIFEST["features"]["shortcuts"]
    assert (shortcut["name"], shortcut["type"], shortcut["callback_id"]) == (
        "Correct this answer",
        "message",
        "correct_answer",
    )
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.im",
        "message.mpim",
        "message.channels",
        "message.groups",
        "reaction_added",
        "reaction_removed",
        "app_home_opened",
        "assistant_thread_started",
    }
    assert MANIFEST["features"]["assistant_view"]["assistant_description"]
    assert "assistant:write" in MANIFEST["oauth_config"]["scopes"]["bot"]
    # group DMs are answered like DMs: their history scope is there, as for every message event
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"im:history", "mpim:history", "channels:history", "groups:history"} <= scopes
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    for url in (
        command["url"],
        MANIFEST["settings"]["event_subscriptions"]["request_url"],
        MANIFEST["settings"]["interactivity"]["request_url"],
    ):
        assert url.endswith("/slack/events")
