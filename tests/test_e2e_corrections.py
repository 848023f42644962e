"""The "Correct this answer" shortcut and modal, end to end."""

from __future__ import annotations

import json

from bot.fakes import FakeSlack
from tests.capture_helpers import answered_question, example, shortcut, submission
from tests.conftest import ADMIN, ALICE, BOB, BOTH_DATABASES, GENERAL, Harness

pytestmark = BOTH_DATABASES


async def open_modal(app: Harness, slack: FakeSlack, *, user: str, ts: str) -> dict:
    status, _ = await app.interact(shortcut(slack, user=user, channel=GENERAL, ts=ts))
    assert status == 200
    await app.settle()
    opened = slack.calls_to("views.open")[-1].args["view"]  # at once, while the answer is looked up
    assert "Loading" in json.dumps(opened)
    return slack.calls_to("views.update")[-1].args["view"]


def initial_text(view: dict) -> str:
    return next(b for b in view["blocks"] if b.get("block_id") == "answer")["element"]["initial_value"]


async def test_shortcut_opens_a_modal_with_the_answer_to_edit(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack, "how do I reset it?")
    view = await open_modal(app, slack, user=ALICE, ts=answer_ts)
    assert view["callback_id"] == "correction_modal"
    assert initial_text(view) == "Echo: how do I reset it?"
    assert "how do I reset it?" in json.dumps(view["blocks"])  # the one-line reminder of the question
    assert slack.calls_to("views.open")[-1].args["trigger_id"] == "trig-1"


async def test_submitting_stores_the_correction_and_confirms_in_the_thread(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    view = await open_modal(app, slack, user=BOB, ts=answer_ts)
    status, body = await app.interact(submission(view, user=BOB, text="Hold the button for 10 s, then wait."))
    assert status == 200 and body.get("response_action") is None
    await app.settle()
    row = await example(app, answer_ts)
    assert row["corrected"] == "Hold the button for 10 s, then wait."
    assert row["answer"] == "Echo: how do I reset it?"
    assert row["source"] == "correction" and row["state"] == "candidate"
    await app.settle()
    (notice,) = slack.ephemerals
    assert notice["user"] == BOB and notice["thread_ts"] and "Correction saved" in notice["text"]


async def test_an_admins_correction_is_approved(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    view = await open_modal(app, slack, user=ADMIN, ts=answer_ts)
    await app.interact(submission(view, user=ADMIN, text="A much better answer."))
    await app.settle()
    row = await example(app, answer_ts)
    assert (row["state"], row["decided_by"]) == ("approved", ADMIN)


async def test_empty_or_unchanged_text_is_refused_inside_the_modal(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    view = await open_modal(app, slack, user=BOB, ts=answer_ts)
    for text in (None, "   ", "Echo:   how do I reset it?  "):
        status, body = await app.interact(submission(view, user=BOB, text=text))
        assert status == 200
        assert body["response_action"] == "errors" and body["errors"]["answer"]
    assert await example(app, answer_ts) is None


async def test_correcting_again_replaces_the_earlier_correction_and_keeps_history(
    app: Harness, slack: FakeSlack
) -> None:
    answer_ts = await answered_question(app, slack)
    view = await open_modal(app, slack, user=BOB, ts=answer_ts)
    await app.interact(submission(view, user=BOB, text="First try."))
    await app.settle()
    await app.interact(submission(view, user=BOB, text="Second, better try."))
    await app.settle()
    row = await example(app, answer_ts)
    assert row["corrected"] == "Second, better try."
    history = await app.db.fetchall("SELECT text, replaced_at FROM corrections ORDER BY id")
    assert [(r["text"], r["replaced_at"] is not None) for r in history] == [
        ("First try.", True),
        ("Second, better try.", False),
    ]


async def test_corrections_are_scrubbed(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    view = await open_modal(app, slack, user=BOB, ts=answer_ts)
    await app.interact(submission(view, user=BOB, text="Mail ops@example.com or call +44 20 7946 0958."))
    await app.settle()
    assert (await example(app, answer_ts))["corrected"] == "Mail [EMAIL] or call [PHONE]."


async def test_a_teammates_reply_can_be_corrected(app: Harness, slack: FakeSlack) -> None:
    root = slack.add_message(GENERAL, ALICE, "Which port?")
    reply = slack.add_message(GENERAL, BOB, "Port 80.", thread_ts=root)
    view = await open_modal(app, slack, user=ADMIN, ts=reply)
    assert initial_text(view) == "Port 80."
    await app.interact(submission(view, user=ADMIN, text="Port 8443."))
    await app.settle()
    row = await example(app, reply)
    assert (row["answer"], row["corrected"], row["state"]) == ("Port 80.", "Port 8443.", "approved")


async def test_a_message_that_answers_nothing_cannot_be_corrected(app: Harness, slack: FakeSlack) -> None:
    ts = slack.add_message(GENERAL, ALICE, "Just a statement.")
    status, _ = await app.interact(shortcut(slack, user=BOB, channel=GENERAL, ts=ts))
    assert status == 200
    await app.settle()
    (update,) = slack.calls_to("views.update")
    assert "Only answers can be corrected" in json.dumps(update.args["view"])
