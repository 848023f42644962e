"""Stream errors as Slack documents them (handlers/stream_errors.py), end to end against the fake Slack."""

from __future__ import annotations

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from handlers.stream_errors import StreamFailure, classify
from render.answers import THINKING
from tests.conftest import ADMIN, GENERAL, Harness
from tests.test_e2e_answering import answers, mention

LONG = " ".join(f"word{i}" for i in range(90))


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("channel_type_not_supported", StreamFailure.REFUSED),
        ("method_not_supported_for_channel_type", StreamFailure.REFUSED),  # the older code
        ("missing_scope", StreamFailure.SETUP),
        ("missing_recipient_user_id", StreamFailure.SETUP),
        ("not_in_channel", StreamFailure.NOWHERE),
        ("channel_not_found", StreamFailure.NOWHERE),
        ("ratelimited", StreamFailure.PASSING),
        ("fatal_error", StreamFailure.PASSING),
        ("service_unavailable", StreamFailure.PASSING),
        ("request_timeout", StreamFailure.PASSING),
        ("HTTP 502", StreamFailure.PASSING),
        ("message_not_in_streaming_state", StreamFailure.PASSING),
    ],
)
def test_stream_errors_are_classified_by_slacks_documented_codes(code: str, kind: StreamFailure) -> None:
    assert classify(code) is kind


async def ask(app: Harness, slack: FakeSlack, question: str) -> dict:
    event = mention(slack, question)
    await app.event(event)
    await app.settle(timeout=20)
    return event


async def test_passing_errors_fall_back_for_one_answer_and_the_next_answer_streams(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("Use WAL mode.")
    slack.fail("chat.startStream", status=429, retry_after=0, times=4)  # the SDK's three retries, then given up
    first = await ask(app, slack, "one?")
    slack.fail("chat.startStream", error="fatal_error")
    second = await ask(app, slack, "two?")
    third = await ask(app, slack, "three?")
    for event in (first, second, third):
        (reply,) = slack.thread(GENERAL, event["ts"])[1:]
        assert reply["text"] == "Use WAL mode."
    assert [c.args["text"] for c in slack.calls_to("chat.postMessage")] == [THINKING] * 2
    assert slack.calls_to("chat.stopStream")[-1].args["ts"] == slack.thread(GENERAL, third["ts"])[1]["ts"]
    assert await app.db.fetchval("SELECT count(*) FROM streaming_refused") == 0
    assert [row["status"] for row in await answers(app)] == ["answered"] * 3


async def test_a_failed_append_is_followed_by_stop_stream_then_an_edit_and_the_answer_is_recorded(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with(LONG)
    oai.token_seconds = 0.03  # ~2.7 s of writing: the first words, then an append a second later
    slack.fail("chat.appendStream", error="fatal_error")
    event = await ask(app, slack, "tell me")
    failed_at = next(i for i, c in enumerate(slack.calls) if c.method == "chat.appendStream")
    after = [c.method for c in slack.calls[failed_at + 1 :] if c.method.startswith("chat.")]
    assert after[:2] == ["chat.stopStream", "chat.update"]
    (reply,) = slack.thread(GENERAL, event["ts"])[1:]
    assert reply["text"] == LONG and "context_actions" in str(reply["blocks"])
    assert slack.still_streaming() == []
    (row,) = await answers(app)
    assert row["status"] == "answered" and row["answer_text"] == LONG and row["answer_ts"] == reply["ts"]
    assert await app.db.fetchval("SELECT count(*) FROM streaming_refused") == 0


async def test_whatever_slack_answers_to_the_stop_and_the_edit_the_answer_is_recorded(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("Use WAL mode, then vacuum.")
    oai.token_seconds = 0.01
    slack.fail("chat.stopStream", error="fatal_error", times=2)
    slack.fail("chat.update", error="fatal_error")
    await ask(app, slack, "how?")
    assert len(slack.calls_to("chat.stopStream")) == 2 and len(slack.calls_to("chat.update")) == 1
    (row,) = await answers(app)
    assert row["status"] == "answered" and row["answer_text"] == "Use WAL mode, then vacuum."


async def test_a_setup_error_is_told_to_the_admins_once_and_is_no_lasting_refusal(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("Use WAL mode.")
    slack.fail("chat.startStream", error="missing_scope", times=2)
    for question in ("one?", "two?"):
        await ask(app, slack, question)
    told = [c.args for c in slack.calls_to("chat.postMessage") if c.args["channel"] == ADMIN]
    assert len(told) == 1 and "missing_scope" in told[0]["text"]
    assert await app.db.fetchval("SELECT count(*) FROM lifecycle_notices WHERE key = 'slack-setup:missing_scope'") == 1
    await ask(app, slack, "three?")  # the scope was added: it streams again
    assert len(slack.calls_to("chat.startStream")) == 3 and len(slack.calls_to("chat.stopStream")) == 1
    assert [row["status"] for row in await answers(app)] == ["answered"] * 3
