"""Mentions, DMs and thread follow-ups, end to end: signed HTTP in, fake Slack and OpenAI out, rows in SQLite."""

from __future__ import annotations

import json
import re

from bot.fakes import FakeOpenAI, FakeSlack
from render.answers import THINKING, split_answer
from tests.conftest import ALICE, BOB, BOT, BOTH_DATABASES, DM, GENERAL, Harness

pytestmark = BOTH_DATABASES


def mention(slack: FakeSlack, text: str, *, user: str = ALICE, thread_ts: str | None = None) -> dict:
    ts = slack.add_message(GENERAL, user, f"<@{BOT}> {text}", thread_ts=thread_ts)
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT}> {text}", "ts": ts, "channel": GENERAL}
    return event | ({"thread_ts": thread_ts} if thread_ts else {})


async def answers(app: Harness) -> list[dict]:
    return [dict(row) for row in await app.db.fetchall("SELECT * FROM answers ORDER BY id")]


async def test_mention_is_answered_in_a_new_thread_and_recorded(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("Hold the reset button for five seconds.")
    event = mention(slack, "how do I reset the router?")
    assert await app.event(event) == 200
    await app.settle()

    replies = slack.thread(GENERAL, event["ts"])
    assert [m["text"] for m in replies[1:]] == ["Hold the reset button for five seconds."]
    sent = oai.calls_to("POST /v1/chat/completions")[0].args["messages"]
    assert sent[0]["role"] == "system"
    assert sent[1:] == [{"role": "user", "content": "how do I reset the router?"}]
    (row,) = await answers(app)
    assert row["status"] == "answered"
    assert (row["team_id"], row["channel"], row["thread_ts"], row["question_ts"]) == (
        "T0001",
        GENERAL,
        event["ts"],
        event["ts"],
    )
    assert row["asked_by"] == ALICE and row["model"] == "gpt-4.1-mini"
    assert json.loads(row["request_messages"]) == sent
    assert row["answer_text"] == "Hold the reset button for five seconds."
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0 and row["latency_ms"] >= 0
    assert row["answer_ts"] == replies[1]["ts"]
    stored = await app.db.fetchone("SELECT * FROM messages WHERE channel = ? AND ts = ?", (GENERAL, row["answer_ts"]))
    assert stored["answer_id"] == row["id"] and stored["is_bot"] == 1


async def test_answer_is_streamed_to_the_asker_and_ends_with_feedback_buttons(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    text = "Hold the **reset** button for five seconds, then wait for the light to turn green and release it. " * 3
    oai.reply_with(text)
    oai.token_seconds = 0.01  # the model writes while Slack shows
    event = mention(slack, "hello?")
    await app.event(event)
    await app.settle()
    assert oai.calls_to("POST /v1/chat/completions")[0].args["stream"] is True
    (start,) = slack.calls_to("chat.startStream")
    assert start.args["thread_ts"] == event["ts"]
    assert (start.args["recipient_team_id"], start.args["recipient_user_id"]) == ("T0001", ALICE)
    # The first words opened the stream before the model finished; the rest came with the stop.
    (stop,) = slack.calls_to("chat.stopStream")
    first_words = "".join(chunk["text"] for chunk in start.args["chunks"])
    assert first_words and text.startswith(first_words) and len(first_words) < len(text.strip())
    assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("chat.update") == []
    (reply,) = slack.thread(GENERAL, event["ts"])[1:]
    assert reply["text"] == text.strip()
    assert [block["type"] for block in reply["blocks"]] == ["context_actions", "actions"]
    assert [e["type"] for e in reply["blocks"][0]["elements"]] == ["feedback_buttons"]
    (correct,) = reply["blocks"][1]["elements"]  # a labelled button, not the trash icon
    assert correct["type"] == "button" and correct["text"]["text"] == "✏️ Correct" and "icon" not in correct
    assert slack.workspace.message(GENERAL, reply["ts"]).metadata["event_type"] == "tuneloop_answer"
    (row,) = await answers(app)
    assert row["answer_text"] == text.strip() and row["answer_ts"] == reply["ts"]


async def test_where_slack_refuses_streaming_the_answer_is_edited_in_and_the_channel_remembered(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("Use **WAL** mode.")
    slack.refuse_streaming(GENERAL)
    for question in ("first?", "second?"):
        event = mention(slack, question)
        await app.event(event)
        await app.settle()
        (reply,) = slack.thread(GENERAL, event["ts"])[1:]
        assert reply["text"] == "Use **WAL** mode."
        assert [block["type"] for block in reply["blocks"]] == ["markdown", "context_actions", "actions"]
    assert len(slack.calls_to("chat.startStream")) == 1  # refused once, not asked again
    assert [c.args["text"] for c in slack.calls_to("chat.postMessage")] == [THINKING] * 2
    assert await app.db.fetchval("SELECT error FROM streaming_refused WHERE channel = ?", (GENERAL,)) == (
        "channel_type_not_supported"
    )
    assert [row["status"] for row in await answers(app)] == ["answered", "answered"]


async def test_a_long_streamed_answer_is_split_cleanly_and_recorded_once(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 300 for i in range(8)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    oai.reply_with(text)
    event = mention(slack, "tell me everything")
    await app.event(event)
    await app.settle()
    replies = slack.thread(GENERAL, event["ts"])[1:]
    parts = split_answer(text)
    assert len(parts) > 1 and [r["text"] for r in replies] == parts
    assert ["context_actions" in str(r.get("blocks")) for r in replies] == [False] * (len(parts) - 1) + [True]
    (row,) = await answers(app)
    assert row["answer_text"] == text
    stored = await app.db.fetchall("SELECT ts FROM messages WHERE answer_id = ? ORDER BY ts", (row["id"],))
    assert [r["ts"] for r in stored] == [r["ts"] for r in replies]


async def test_mention_inside_a_thread_answers_in_that_thread_with_its_history(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    root = slack.add_message(GENERAL, BOB, "Our deploys fail since Monday.")
    slack.add_message(GENERAL, ALICE, "Same for me, on staging.", thread_ts=root)
    event = mention(slack, "any idea why?", thread_ts=root)
    await app.event(event)
    await app.settle()
    sent = oai.calls_to("POST /v1/chat/completions")[0].args["messages"]
    assert [m["content"] for m in sent[1:]] == [
        "Our deploys fail since Monday.",
        "Same for me, on staging.",
        "any idea why?",
    ]
    assert slack.thread(GENERAL, root)[-1]["user"] == BOT


async def test_follow_up_in_an_answered_thread_needs_no_mention(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    first = mention(slack, "what is WAL?")
    await app.event(first)
    await app.settle()
    ts = slack.add_message(GENERAL, ALICE, "and is it safe?", thread_ts=first["ts"])
    await app.event(
        {
            "type": "message",
            "channel_type": "channel",
            "user": ALICE,
            "text": "and is it safe?",
            "ts": ts,
            "thread_ts": first["ts"],
            "channel": GENERAL,
        }
    )
    await app.settle()
    sent = oai.calls_to("POST /v1/chat/completions")[1].args["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert len(await answers(app)) == 2


async def test_messages_in_threads_the_bot_never_answered_are_only_remembered(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    root = slack.add_message(GENERAL, BOB, "lunch?")
    ts = slack.add_message(GENERAL, ALICE, "yes", thread_ts=root)
    await app.event(
        {
            "type": "message",
            "channel_type": "channel",
            "user": ALICE,
            "text": "yes",
            "ts": ts,
            "thread_ts": root,
            "channel": GENERAL,
        }
    )
    await app.settle()
    assert oai.calls_to("POST /v1/chat/completions") == []
    assert await app.db.fetchval("SELECT text FROM messages WHERE channel = ? AND ts = ?", (GENERAL, ts)) == "yes"


async def test_dm_is_answered_directly(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    oai.reply_with("Sure.")
    ts = slack.add_message(DM, ALICE, "can you help?")
    await app.event(
        {"type": "message", "channel_type": "im", "user": ALICE, "text": "can you help?", "ts": ts, "channel": DM}
    )
    await app.settle()
    post = slack.calls_to("chat.postMessage")[0]
    assert post.args["channel"] == DM and not post.args.get("thread_ts")
    assert slack.history(DM)[0]["text"] == "Sure."
    (row,) = await answers(app)
    assert row["channel"] == DM and row["status"] == "answered"


async def test_mention_delivered_as_app_mention_and_message_is_answered_once(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    event = mention(slack, "once please")
    await app.event(event)
    await app.event({**event, "type": "message", "channel_type": "channel"})
    await app.settle()
    assert len(oai.calls_to("POST /v1/chat/completions")) == 1
    assert len(slack.bot_messages()) == 1
    assert len(await answers(app)) == 1


async def test_retried_event_is_answered_and_recorded_once(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    event = mention(slack, "retry me")
    assert await app.event(event, event_id="Ev0RETRY") == 200
    assert await app.event(event, event_id="Ev0RETRY", retry=1) == 200
    assert await app.event(event, event_id="Ev0RETRY", retry=2) == 200
    await app.settle()
    assert len(oai.calls_to("POST /v1/chat/completions")) == 1
    assert len(await answers(app)) == 1
    assert await app.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = 'Ev0RETRY'") == 1


async def test_model_error_becomes_a_warning_in_the_thread_and_is_logged(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, caplog
) -> None:
    oai.fail("POST /v1/chat/completions", status=500, times=10)
    event = mention(slack, "will this work?")
    await app.event(event)
    await app.settle()
    reply = slack.thread(GENERAL, event["ts"])[1]["text"]
    assert reply.startswith(":warning:") and "HTTP 500" in reply
    (row,) = await answers(app)
    assert row["status"] == "failed" and "500" in row["error"]
    assert any("failed" in record.getMessage() for record in caplog.records)


async def test_long_answers_are_split_into_several_messages(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    long = "\n\n".join(f"Step {i}: " + "do the thing carefully " * 40 for i in range(12))
    oai.reply_with(long)
    event = mention(slack, "explain everything")
    await app.event(event)
    await app.settle()
    parts = [m["text"] for m in slack.thread(GENERAL, event["ts"])[1:]]
    assert len(parts) > 1
    assert " ".join(" ".join(parts).split()) == " ".join(long.split())
    (row,) = await answers(app)
    assert await app.db.fetchval("SELECT count(*) FROM messages WHERE answer_id = ?", (row["id"],)) == len(parts)


async def test_the_bot_ignores_its_own_messages(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    ts = slack.add_message(GENERAL, BOT, "I said this", bot_id="B0BOT")
    await app.event(
        {
            "type": "message",
            "channel_type": "channel",
            "user": BOT,
            "bot_id": "B0BOT",
            "text": "I said this",
            "ts": ts,
            "channel": GENERAL,
        }
    )
    await app.settle()
    assert oai.calls_to("POST /v1/chat/completions") == []


async def test_a_model_answer_with_broadcasts_and_mentions_pings_nobody(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("<!channel> <!here> look, <@U0BOB> and <!subteam^S123> & <#C0GENERAL> are **here**")
    event = mention(slack, "ping everyone")
    await app.event(event)
    await app.settle()
    (reply,) = slack.thread(GENERAL, event["ts"])[1:]
    assert not re.search(r"<[!@#]", reply["text"])
    assert (
        reply["text"].replace("\u200b", "")
        == "<!channel> <!here> look, <@U0BOB> and <!subteam^S123> & <#C0GENERAL> are **here**"
    )


async def test_a_group_dm_is_answered_like_a_dm(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    slack.add_channel("G0GROUP", "mpdm-alice--bob--tuneloop-1", is_private=True, members=[ALICE, BOB, BOT])
    oai.reply_with("Sure.")
    ts = slack.add_message("G0GROUP", ALICE, "can you help us?")
    await app.event(
        {
            "type": "message",
            "channel_type": "mpim",
            "user": ALICE,
            "text": "can you help us?",
            "ts": ts,
            "channel": "G0GROUP",
        }
    )
    await app.settle()
    assert [m["text"] for m in slack.history("G0GROUP")] == ["Sure.", "can you help us?"]
    assert await app.db.fetchval("SELECT count(*) FROM messages WHERE channel = 'G0GROUP' AND is_bot = 0") == 0
