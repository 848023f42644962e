"""Building the payloads Slack sends for votes, shortcuts, buttons and modals."""

from __future__ import annotations

import json
from typing import Any

from bot.fakes import FakeSlack
from tests.conftest import ALICE, BOT, GENERAL, Harness


async def answered_question(
    app: Harness, slack: FakeSlack, text: str = "how do I reset it?", *, user: str = ALICE
) -> str:
    """Ask the bot in #general; returns the ts of its answer."""
    ts = slack.add_message(GENERAL, user, f"<@{BOT}> {text}")
    await app.event({"type": "app_mention", "user": user, "text": f"<@{BOT}> {text}", "ts": ts, "channel": GENERAL})
    await app.settle()
    return slack.thread(GENERAL, ts)[1]["ts"]


def reaction(
    kind: str,
    *,
    user: str,
    ts: str,
    reaction: str = "+1",
    item_user: str | None = BOT,
    channel: str = GENERAL,
    event_ts: str | None = None,
) -> dict[str, Any]:
    event = {
        "type": kind,
        "user": user,
        "reaction": reaction,
        "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": ts},
    }
    return event | ({"event_ts": event_ts} if event_ts else {})


async def vote(
    app: Harness,
    *,
    user: str,
    ts: str,
    reaction_name: str = "+1",
    removed: bool = False,
    item_user: str | None = BOT,
    event_id: str | None = None,
) -> int:
    kind = "reaction_removed" if removed else "reaction_added"
    status = await app.event(
        reaction(kind, user=user, ts=ts, reaction=reaction_name, item_user=item_user), event_id=event_id
    )
    await app.settle()
    return status


async def example(app: Harness, ts: str, channel: str = GENERAL) -> dict[str, Any] | None:
    row = await app.db.fetchone("SELECT * FROM examples WHERE channel = ? AND message_ts = ?", (channel, ts))
    if row is None:
        return None
    return dict(row) | {"conversation": json.loads(row["conversation"])}


def shortcut(slack: FakeSlack, *, user: str, channel: str, ts: str, trigger: str = "trig-1") -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": "correct_answer",
        "trigger_id": trigger,
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "fake"},
        "channel": {"id": channel, "name": "general"},
        "message": slack.message(channel, ts),
        "message_ts": ts,
        "response_url": slack.response_url(f"shortcut-{ts}"),
        "token": "x",
        "action_ts": "1.0",
    }


def submission(view: dict[str, Any], *, user: str, text: str | None) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": "T0001", "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "x",
        "trigger_id": "trig-2",
        "view": {**view, "state": {"values": {"answer": {"text": {"type": "plain_text_input", "value": text}}}}},
    }


def button(slack: FakeSlack, action_id: str, value: str, *, user: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "x",
        "trigger_id": "trig-3",
        "response_url": slack.response_url(f"review-{action_id}-{value}-{user}"),
        "container": {"type": "message", "message_ts": "1.0", "channel_id": GENERAL, "is_ephemeral": True},
        "channel": {"id": GENERAL, "name": "general"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1.0"}],
    }
