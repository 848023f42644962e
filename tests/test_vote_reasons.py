"""A 👎 can say why: privately offered quick reasons and a form, stored with the vote, shown in review, counted
in stats and the Home tab; a fix becomes a correction draft for an admin."""

from __future__ import annotations

from typing import Any

from bot.fakes import FakeSlack
from tests.capture_helpers import answered_question, button, example, vote
from tests.conftest import ADMIN, ALICE, BOB, GENERAL, Harness
from tests.test_e2e_feedback import click

REASONS = [
    "feedback_reason:wrong",
    "feedback_reason:outdated",
    "feedback_reason:incomplete",
    "feedback_reason:unclear",
    "feedback_reason:other",
    "feedback_fix",
]


def asked(slack: FakeSlack, user: str) -> list[dict[str, Any]]:
    """The "What was wrong?" ephemerals `user` was shown."""
    return [e for e in slack.ephemerals if e["user"] == user and "What was wrong" in e["text"]]


def action_ids(ephemeral: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in ephemeral["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def submitted(view: dict[str, Any], *, user: str, reason: str, fix: str | None) -> dict[str, Any]:
    values = {
        "reason": {
            "pick": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": reason.title()}, "value": reason},
            }
        },
        "fix": {"text": {"type": "plain_text_input", "value": fix}},
    }
    return {
        "type": "view_submission",
        "team": {"id": "T0001", "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "x",
        "trigger_id": "trig-5",
        "view": {**view, "id": "V0REASON", "state": {"values": values}},
    }


async def test_a_thumbs_down_click_offers_reasons_and_the_reason_shows_in_review_stats_and_home(
    app: Harness, slack: FakeSlack
) -> None:
    answer_ts = await answered_question(app, slack)
    await app.interact(click(slack, answer_ts, "down", user=BOB, at="1900000000.000100"))
    await app.settle()
    (offer,) = asked(slack, BOB)
    assert action_ids(offer) == REASONS and offer["channel"] == GENERAL
    value = offer["blocks"][1]["elements"][1]["value"]
    status, _ = await app.interact(button(slack, "feedback_reason:outdated", value, user=BOB))
    await app.settle()
    assert status == 200 and "noted as *outdated*" in slack.responses[-1]["text"]
    assert slack.responses[-1]["replace_original"] is True
    row = await app.db.fetchone("SELECT channel, ts, voter, reason FROM vote_reasons")
    assert tuple(row) == (GENERAL, answer_ts, BOB, "outdated")

    await app.command("review", user=ADMIN)
    await app.settle()
    assert ":-1: why: outdated" in str(slack.responses[-1]["blocks"])
    await app.command("stats", user=ALICE)
    await app.settle()
    assert "*Why :-1::* 1 outdated" in str(slack.responses[-1]["blocks"])
    await app.event({"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "home"})
    await app.settle()
    assert "1 outdated" in str(slack.home_tabs[ALICE])

    await app.interact(click(slack, answer_ts, "up", user=BOB, at="1900000000.000200"))  # changed their mind
    await app.command("stats", user=ALICE)
    await app.settle()
    assert "Why" not in str(slack.responses[-1]["blocks"])
    assert len(asked(slack, BOB)) == 1  # a 👍 asks nothing


async def test_a_thumbs_down_reaction_offers_a_form_whose_fix_becomes_a_correction_draft(
    app: Harness, slack: FakeSlack
) -> None:
    answer_ts = await answered_question(app, slack)
    await vote(app, user=BOB, ts=answer_ts, reaction_name="-1")
    (offer,) = asked(slack, BOB)  # an event carries no trigger_id: the form opens from the message's button
    value = offer["blocks"][1]["elements"][-1]["value"]
    await app.interact(button(slack, "feedback_fix", value, user=BOB))
    await app.settle()
    form = slack.calls_to("views.open")[-1].args["view"]
    assert form["callback_id"] == "feedback_reason_modal"
    status, body = await app.interact(submitted(form, user=BOB, reason="wrong", fix="Hold it for ten seconds."))
    await app.settle()
    assert status == 200 and not body.get("errors")
    assert tuple(await app.db.fetchone("SELECT reason, note FROM vote_reasons")) == (
        "wrong",
        "Hold it for ten seconds.",
    )
    drafted = await example(app, answer_ts)
    assert drafted["corrected"] == "Hold it for ten seconds." and drafted["state"] == "candidate"
    assert "waiting for an admin's review" in slack.ephemerals[-1]["text"]
    await app.command("review", user=ADMIN)
    await app.settle()
    assert "wrong — “Hold it for ten seconds.”" in str(slack.responses[-1]["blocks"])


async def test_a_bad_reason_changes_nothing(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    await app.interact(button(slack, "feedback_reason:sarcastic", f"{GENERAL}|{answer_ts}", user=BOB))
    await app.interact(button(slack, "feedback_reason:wrong", "not-a-target", user=BOB))
    await app.settle()
    assert await app.db.fetchval("SELECT count(*) FROM vote_reasons") == 0
    assert "is not a reason" in slack.responses[-1]["text"]
