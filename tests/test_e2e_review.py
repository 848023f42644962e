"""`/tune review`: candidates with buttons; only admins can act."""

from __future__ import annotations

from bot.fakes import FakeSlack
from tests.capture_helpers import answered_question, button, example, vote
from tests.conftest import ADMIN, ALICE, BOB, BOTH_DATABASES, Harness

pytestmark = BOTH_DATABASES


async def candidate(app: Harness, slack: FakeSlack) -> dict:
    answer_ts = await answered_question(app, slack, "is this right?")
    await vote(app, user=BOB, ts=answer_ts, reaction_name="-1")
    return await example(app, answer_ts)


async def test_review_lists_candidates_with_buttons(app: Harness, slack: FakeSlack) -> None:
    row = await candidate(app, slack)
    status, _ = await app.command("review", user=ALICE)
    assert status == 200
    await app.settle()
    (response,) = slack.responses
    assert response["response_type"] == "ephemeral"
    text = str(response["blocks"])
    assert "is this right?" in text and "Echo: is this right?" in text and ":-1: 1" in text
    actions = [b for b in response["blocks"] if b["type"] == "actions"]
    assert {e["action_id"] for e in actions[0]["elements"]} == {"review_approve", "review_reject", "review_edit"}
    assert actions[0]["elements"][0]["value"] == str(row["id"])


async def test_a_non_admin_is_told_who_can_act_and_nothing_changes(app: Harness, slack: FakeSlack) -> None:
    row = await candidate(app, slack)
    for action in ("review_approve", "review_reject", "review_edit"):
        status, _ = await app.interact(button(slack, action, str(row["id"]), user=ALICE))
        assert status == 200
        await app.settle()
        refusal = slack.responses[-1]
        assert refusal["response_type"] == "ephemeral" and f"<@{ADMIN}>" in refusal["text"]
    assert (await example(app, row["message_ts"]))["state"] == "candidate"
    assert slack.calls_to("views.open") == []


async def test_admin_approval_records_who_and_refreshes_the_queue(app: Harness, slack: FakeSlack) -> None:
    row = await candidate(app, slack)
    await app.interact(button(slack, "review_approve", str(row["id"]), user=ADMIN))
    await app.settle()
    after = await example(app, row["message_ts"])
    assert (after["state"], after["decided_by"]) == ("approved", ADMIN)
    event = await app.db.fetchone("SELECT action, actor, at FROM example_events ORDER BY id DESC LIMIT 1")
    assert (event["action"], event["actor"]) == ("approve", ADMIN) and event["at"]
    assert slack.responses[-1]["replace_original"] is True
    assert "Nothing to review" in slack.responses[-1]["text"]


async def test_admin_rejection_sticks_even_with_more_votes(app: Harness, slack: FakeSlack) -> None:
    row = await candidate(app, slack)
    await app.interact(button(slack, "review_reject", str(row["id"]), user=ADMIN))
    await app.settle()
    await vote(app, user=ALICE, ts=row["message_ts"])
    await vote(app, user=ADMIN, ts=row["message_ts"])
    assert (await example(app, row["message_ts"]))["state"] == "rejected"


async def test_edit_opens_the_correction_modal_for_admins(app: Harness, slack: FakeSlack) -> None:
    row = await candidate(app, slack)
    await app.interact(button(slack, "review_edit", str(row["id"]), user=ADMIN))
    await app.settle()
    view = slack.calls_to("views.open")[-1].args["view"]
    assert view["callback_id"] == "correction_modal" and str(row["id"]) in view["private_metadata"]
