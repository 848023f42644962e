"""A message deleted in Slack leaves every copy Tuneloop holds, in channels, DMs and assistant threads alike;
checked in the database file's bytes, write-ahead log included."""

from __future__ import annotations

from slack_bolt.request.payload_utils import is_other_message_sub_event_in_assistant_thread

from bot.fakes import FakeOpenAI, FakeSlack
from tests.conftest import ALICE, BOT, DM, GENERAL, Harness
from tests.test_e2e_assistant import pane_thread, question

SECRET = "the vault combination is 31-41-59 and only Alice knows it"


def database_bytes(app: Harness) -> bytes:
    """The database as it lies on disk: the file, and its write-ahead log if there is one."""
    path = app.db.path
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def inbox_rows_quoting(app: Harness, text: str) -> int:
    return await app.db.fetchval("SELECT count(*) FROM inbox WHERE instr(body, ?) > 0", (text,))


async def prompts_quoting(app: Harness, text: str) -> int:
    return await app.db.fetchval("SELECT count(*) FROM answers WHERE instr(request_messages, ?) > 0", (text,))


def deleted(channel: str, message: dict, *, channel_type: str | None = None) -> dict:
    """Slack's message_deleted event: it carries the message as it was, in `previous_message`."""
    previous = {k: message[k] for k in ("type", "user", "text", "ts", "thread_ts") if k in message}
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "ts": "1900000000.000100",
        "deleted_ts": message["ts"],
        "event_ts": "1900000000.000100",
        "previous_message": previous,
    } | ({"channel_type": channel_type} if channel_type else {})


async def test_a_deletion_in_a_channel_thread_removes_the_text_from_every_copy(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("I will not repeat that.")
    root = slack.add_message(GENERAL, ALICE, "a question about the vault")
    text = f"<@{BOT}> {SECRET}"
    ts = slack.add_message(GENERAL, ALICE, text, thread_ts=root)
    mention = {"type": "app_mention", "user": ALICE, "text": text, "ts": ts, "thread_ts": root, "channel": GENERAL}
    await app.event(mention)
    await app.settle()
    assert await inbox_rows_quoting(app, SECRET) == 1 and await prompts_quoting(app, SECRET) == 1  # today's copies
    await app.event(deleted(GENERAL, mention))
    await app.settle()
    assert await inbox_rows_quoting(app, SECRET) == 0 and await prompts_quoting(app, SECRET) == 0
    assert await app.db.fetchval("SELECT text FROM messages WHERE ts = ?", (ts,)) == ""
    assert SECRET.encode() not in database_bytes(app)
    # The rest of the conversation and the answer are kept.
    assert await app.db.fetchval("SELECT answer_text FROM answers") == "I will not repeat that."
    assert "a question about the vault" in str(await app.db.fetchval("SELECT request_messages FROM answers"))


async def test_a_deletion_in_an_assistant_thread_gets_past_bolts_assistant_middleware(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.reply_with("Noted.")
    thread_ts = pane_thread(slack)
    asked = question(slack, thread_ts, SECRET)
    await app.event(asked)
    await app.settle()
    assert await prompts_quoting(app, SECRET) == 1 and SECRET.encode() in database_bytes(app)
    event = deleted(DM, asked, channel_type="im")
    body = slack.event_callback(event)
    assert is_other_message_sub_event_in_assistant_thread(body)  # Bolt's assistant would ack and drop it
    await app.event(event)
    await app.settle()
    assert await inbox_rows_quoting(app, SECRET) == 0 and await prompts_quoting(app, SECRET) == 0
    assert SECRET.encode() not in database_bytes(app)
    assert await app.db.fetchval("SELECT count(*) FROM answers WHERE status = 'answered'") == 1


async def test_an_edit_in_an_assistant_thread_reaches_privacy_handling(app: Harness, slack: FakeSlack) -> None:
    """The pane's DMs are not stored as messages; an edit of a channel-stored one in a DM thread is applied."""
    thread_ts = pane_thread(slack)
    ts = slack.add_message(DM, ALICE, "first words", thread_ts=thread_ts)
    await app.db.execute(
        "INSERT INTO messages (channel, ts, team_id, thread_ts, user_id, text, is_bot)"
        " VALUES (?, ?, 'T0001', ?, ?, 'first words', 0)",
        (DM, ts, thread_ts, ALICE),
    )
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": DM,
        "channel_type": "im",
        "ts": "1900000000.000200",
        "event_ts": "1900000000.000200",
        "message": {"type": "message", "user": ALICE, "text": "second words", "ts": ts, "thread_ts": thread_ts},
        "previous_message": {"type": "message", "user": ALICE, "text": "first words", "ts": ts, "thread_ts": thread_ts},
    }
    assert is_other_message_sub_event_in_assistant_thread(slack.event_callback(changed))
    await app.event(changed)
    await app.settle()
    assert await app.db.fetchval("SELECT text FROM messages WHERE ts = ?", (ts,)) == "second words"
