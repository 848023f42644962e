"""Tuneloop in Slack's AI pane: suggested prompts, a thinking status, a title, a streamed answer with feedback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from bot.settings import Settings
from tests.conftest import ALICE, BOT, DM, Harness, make_settings

PROMPTS = "How do I reset the router?|What is WAL mode, and when should I use it in SQLite?"


@pytest.fixture
def settings(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> Settings:
    return make_settings(tmp_path, slack, oai, TUNELOOP_SUGGESTED_PROMPTS=PROMPTS)


def pane_thread(slack: FakeSlack) -> str:
    """The thread Slack opens in the person's DM with the app when they open the pane."""
    return slack.add_message(DM, BOT, "Hi, how can I help?", bot_id="B0BOT")


def question(slack: FakeSlack, thread_ts: str, text: str) -> dict:
    ts = slack.add_message(DM, ALICE, text, thread_ts=thread_ts)
    return {
        "type": "message",
        "channel_type": "im",
        "user": ALICE,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel": DM,
    }


async def test_opening_the_pane_shows_the_configured_prompts(app: Harness, slack: FakeSlack) -> None:
    thread_ts = pane_thread(slack)
    status = await app.event(
        {
            "type": "assistant_thread_started",
            "event_ts": thread_ts,
            "assistant_thread": {"user_id": ALICE, "channel_id": DM, "thread_ts": thread_ts, "context": {}},
        }
    )
    await app.settle()
    assert status == 200
    prompts = slack.assistant_threads[(DM, thread_ts)]["prompts"]
    assert [p["message"] for p in prompts] == PROMPTS.split("|")
    assert all(len(p["title"]) <= 40 for p in prompts)


async def test_a_question_in_the_pane_gets_status_title_and_a_streamed_answer(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("Hold the **reset** button for five seconds.")
    thread_ts = pane_thread(slack)
    await app.event(question(slack, thread_ts, "how do I reset the router?"))
    await app.settle()
    pane = slack.assistant_threads[(DM, thread_ts)]
    assert pane["title"] == "how do I reset the router?"
    assert pane["statuses"] == ["is thinking…", ""]  # set while the model worked, cleared by the answer
    (start,) = slack.calls_to("chat.startStream")
    assert (start.args["channel"], start.args["thread_ts"], start.args["recipient_user_id"]) == (DM, thread_ts, ALICE)
    answer = slack.thread(DM, thread_ts)[-1]
    assert answer["text"] == "Hold the **reset** button for five seconds."
    assert answer["blocks"][0]["type"] == "context_actions"

    await app.event(question(slack, thread_ts, "and then?"))
    await app.settle()
    assert slack.assistant_threads[(DM, thread_ts)]["title"] == "how do I reset the router?"  # from the first only
    assert len(slack.calls_to("assistant.threads.setTitle")) == 1


def test_more_prompts_than_the_pane_shows_are_refused_plainly(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    with pytest.raises(ValueError, match="1 to 4 prompts"):
        make_settings(tmp_path, slack, oai, TUNELOOP_SUGGESTED_PROMPTS="a|b|c|d|e")
