"""chat.postMessage exactly once: a post whose answer was lost is found by its metadata, not sent again."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.fakes import FakeSlack
from handlers.posting import post_once, tag
from handlers.slack_retries import slack_retry_handlers
from tests.conftest import ALICE, GENERAL


def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test-token", base_url=slack.api_url, retry_handlers=slack_retry_handlers())


async def test_a_post_answered_with_500_after_it_was_made_is_not_repeated(slack: FakeSlack) -> None:
    root = slack.add_message(GENERAL, ALICE, "question")
    metadata = tag("tuneloop_answer", "7:1")
    # What Slack did before its 500 reached us: the message is in the thread, with its metadata.
    slack.workspace.add_message(
        GENERAL, "U0BOT", "part two", thread_ts=root, bot_id="B0BOT", metadata=metadata.to_dict()
    )
    slack.fail("chat.postMessage", status=500)
    ts = await post_once(client(slack), channel=GENERAL, thread_ts=root, metadata=metadata, text="part two")
    assert len(slack.calls_to("chat.postMessage")) == 1  # not sent again
    (lookup,) = slack.calls_to("conversations.replies")
    assert lookup.args["include_all_metadata"] in (True, "1", "true")
    assert [m["text"] for m in slack.thread(GENERAL, root)[1:]] == ["part two"]
    assert ts == slack.thread(GENERAL, root)[1]["ts"]


async def test_a_post_lost_before_it_was_made_is_sent_again_once(slack: FakeSlack) -> None:
    root = slack.add_message(GENERAL, ALICE, "question")
    slack.fail("chat.postMessage", status=502)
    ts = await post_once(client(slack), channel=GENERAL, thread_ts=root, metadata=tag("tuneloop_card"), text="card")
    assert len(slack.calls_to("chat.postMessage")) == 2
    replies = slack.thread(GENERAL, root)[1:]
    assert [m["text"] for m in replies] == ["card"] and replies[0]["ts"] == ts
    assert replies[0]["metadata"]["event_type"] == "tuneloop_card"


async def test_slack_returns_metadata_only_when_asked(slack: FakeSlack) -> None:
    root = slack.add_message(GENERAL, ALICE, "question")
    web = client(slack)
    await post_once(web, channel=GENERAL, thread_ts=root, metadata=tag("tuneloop_answer", "1:0"), text="hi")
    plain = await web.conversations_replies(channel=GENERAL, ts=root)
    full = await web.conversations_replies(channel=GENERAL, ts=root, include_all_metadata=True)
    assert "metadata" not in plain["messages"][1]
    assert full["messages"][1]["metadata"] == {"event_type": "tuneloop_answer", "event_payload": {"key": "1:0"}}


async def test_malformed_metadata_is_refused_as_slack_does(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client(slack).chat_postMessage(channel=GENERAL, text="x", metadata={"event_payload": {}})
    assert refused.value.response["error"] == "invalid_metadata_format"
    assert slack.bot_messages() == []


async def test_the_look_up_follows_the_replies_cursor_through_a_long_thread(slack: FakeSlack) -> None:
    """Slack returned 500 after posting at the end of a 450-reply thread: the post is on the look-up's third page."""
    root = slack.add_message(GENERAL, ALICE, "question")
    for n in range(450):
        slack.add_message(GENERAL, ALICE, f"reply {n}", thread_ts=root)
    metadata = tag("tuneloop_answer", "9:0")
    slack.workspace.add_message(
        GENERAL, "U0BOT", "the answer", thread_ts=root, bot_id="B0BOT", metadata=metadata.to_dict()
    )
    slack.fail("chat.postMessage", status=500)
    ts = await post_once(client(slack), channel=GENERAL, thread_ts=root, metadata=metadata, text="the answer")
    assert len(slack.calls_to("chat.postMessage")) == 1  # found, not sent again
    assert len(slack.calls_to("conversations.replies")) == 3 and ts == slack.thread(GENERAL, root)[-1]["ts"]
    assert [m["text"] for m in slack.thread(GENERAL, root)].count("the answer") == 1


async def test_the_look_up_stops_at_a_page_past_the_posts_time(slack: FakeSlack) -> None:
    """Replies newer than the look-up (a clock running ahead) end it: no reading to the thread's end."""
    root = slack.add_message(GENERAL, ALICE, "question", ts="1700000000.000100")
    for n in range(300):
        slack.add_message(GENERAL, ALICE, f"reply {n}", thread_ts=root, ts=f"{4102444800 + n}.000100")  # year 2100
    slack.fail("chat.postMessage", status=502)
    await post_once(client(slack), channel=GENERAL, thread_ts=root, metadata=tag("tuneloop_card"), text="card")
    assert len(slack.calls_to("conversations.replies")) == 1  # the first page already passed the post's time
    assert len(slack.calls_to("chat.postMessage")) == 2
