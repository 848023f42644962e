"""The 👍/👎 feedback buttons and the correct button under every answer; acknowledgements never wait on Slack."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.fakes import FakeSlack
from tests.capture_helpers import (
    answered_question,
    example,
    reaction,
    shortcut,
    submission,
)
from tests.conftest import ALICE, BOB, BOT, BOTH_DATABASES, GENERAL, Harness
from tests.waiting import eventually

pytestmark = BOTH_DATABASES


def click(
    slack: FakeSlack,
    answer_ts: str,
    value: str,
    *,
    user: str,
    at: str,
    action_id: str = "answer_feedback",
    kind: str = "feedback_buttons",
) -> dict[str, Any]:
    """A block_actions payload for a click under an answer, shaped as Slack sends it."""
    message = {"type": "message", "ts": answer_ts, "user": BOT, "bot_id": "B0BOT", "text": "…"}
    action = {"type": kind, "action_id": action_id, "block_id": "fb", "action_ts": at} | (
        {"value": value} if value else {}
    )
    return {
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "x",
        "trigger_id": "trig-9",
        "response_url": slack.response_url(f"fb-{user}-{at}"),
        "container": {"type": "message", "message_ts": answer_ts, "channel_id": GENERAL, "is_ephemeral": False},
        "channel": {"id": GENERAL, "name": "general"},
        "message": message,
        "actions": [action],
    }


async def votes(app: Harness, answer_ts: str) -> tuple[int, int]:
    row = await example(app, answer_ts)
    assert row is not None
    return row["up_votes"], row["down_votes"]


async def test_a_click_is_a_vote_and_the_latest_click_wins(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    status, _ = await app.interact(click(slack, answer_ts, "up", user=BOB, at="1900000000.000100"))
    await app.settle()
    assert status == 200 and await votes(app, answer_ts) == (1, 0)
    assert (await example(app, answer_ts))["state"] == "approved"  # flows into datasets like any vote
    await app.interact(click(slack, answer_ts, "down", user=BOB, at="1900000000.000200"))
    await app.settle()
    assert await votes(app, answer_ts) == (0, 1)
    sources = await app.db.fetchall("SELECT DISTINCT source FROM reaction_events")
    assert [row["source"] for row in sources] == ["button"]


async def test_a_click_shows_in_stats_and_on_the_home_tab_like_a_reaction(app: Harness, slack: FakeSlack) -> None:
    approved = await answered_question(app, slack, "one")
    await app.interact(click(slack, approved, "up", user=BOB, at="1900000000.000100"))
    pending = await answered_question(app, slack, "two")
    await app.interact(click(slack, pending, "down", user=BOB, at="1900000000.000200"))
    await app.command("stats", user=ALICE)
    await app.settle()
    text = str(slack.responses[-1]["blocks"])
    assert "1 approved · 1 candidate · 0 rejected" in text and f"<@{BOB}>: 1" in text
    await app.event({"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "home"})
    await app.settle()
    assert "1 approved" in str(slack.home_tabs[ALICE])


async def test_a_reaction_and_a_click_by_one_person_are_one_vote(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    await app.event(reaction("reaction_added", user=BOB, ts=answer_ts, event_ts="1900000000.000100"))
    await app.interact(click(slack, answer_ts, "up", user=BOB, at="1900000000.000200"))
    await app.settle()
    assert await votes(app, answer_ts) == (1, 0)
    await app.interact(click(slack, answer_ts, "down", user=BOB, at="1900000000.000300"))
    await app.settle()
    assert await votes(app, answer_ts) == (0, 1)  # the newest of the two ways wins


async def test_the_bots_own_click_and_unknown_values_do_not_count(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    await app.interact(click(slack, answer_ts, "up", user=BOT, at="1900000000.000100"))
    await app.interact(click(slack, answer_ts, "bogus", user=BOB, at="1900000000.000200"))
    await app.settle()
    assert await app.db.fetchval("SELECT count(*) FROM reaction_events") == 0


async def test_the_correct_button_opens_the_correction_form(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    payload = click(slack, answer_ts, "", user=BOB, at="1900000000.000100", action_id="answer_correct", kind="button")
    status, _ = await app.interact(payload)
    await app.settle()
    assert status == 200
    form = slack.calls_to("views.update")[-1].args["view"]
    assert form["callback_id"] == "correction_modal" and "Echo: how do I reset it?" in json.dumps(form)


async def test_a_submission_is_acknowledged_while_a_slack_call_it_needs_is_held(app: Harness, slack: FakeSlack) -> None:
    """conversations.replies is held for 5 s (as a 429 wait would): the 200 must come back before it is released."""
    root = slack.add_message(GENERAL, ALICE, "Which port?")
    reply = slack.add_message(GENERAL, BOB, "Port 80.", thread_ts=root)
    await app.interact(shortcut(slack, user=BOB, channel=GENERAL, ts=reply))
    await app.settle()
    view = slack.calls_to("views.update")[-1].args["view"]
    held_from = len(slack.calls_to("conversations.replies"))
    slack.fail("conversations.replies", delay=5.0, times=3)
    slack.fail("conversations.history", delay=5.0, times=3)
    started = time.monotonic()
    status, body = await app.interact(submission(view, user=BOB, text="Port 8443."))
    acknowledged = time.monotonic()
    assert status == 200 and body.get("response_action") is None
    await eventually(lambda: slack.pending_faults < 6)  # the correction now waits on a held call…
    assert await example(app, reply) is None  # …which the acknowledgement did not
    assert acknowledged - started < 5.0  # the hold alone lasts 5 s
    await app.settle(timeout=30)
    assert (await example(app, reply))["corrected"] == "Port 8443."
    assert len(slack.calls_to("conversations.replies")) + len(slack.calls_to("conversations.history")) > held_from
