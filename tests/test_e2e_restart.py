"""What was acknowledged survives a restart; SIGTERM stops the real process cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from bot.fakes import FakeOpenAI, FakeSlack
from bot.settings import Settings
from storage import migrate, open_database
from tests.conftest import ALICE, BOT, GENERAL, REPO, SIGNING_SECRET, make_settings, served
from tests.waiting import eventually, listening


async def test_events_stored_but_not_processed_are_replayed_at_start_up(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    settings = make_settings(tmp_path, slack, oai)
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> still there?")
    event = {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> still there?", "ts": ts, "channel": GENERAL}
    db = await open_database(settings.db_path)  # the state a crash right after the 200 leaves behind
    await migrate(db)
    await db.execute(
        "INSERT INTO inbox (event_id, event_type, body) VALUES (?, ?, ?)",
        ("Ev0CRASH", "app_mention", json.dumps(slack.event_callback(event, event_id="Ev0CRASH"))),
    )
    await db.close()
    async with served(settings, slack) as app:
        await app.settle()
        assert slack.thread(GENERAL, ts)[1]["text"] == "Echo: still there?"
        assert await app.db.fetchval("SELECT count(*) FROM inbox WHERE processed_at IS NULL") == 0


async def _half_answered(settings: Settings, slack: FakeSlack, ts: str, answer_ts: str | None = None) -> int:
    """What a crash mid-answer leaves: the event taken once, and a pending answer with its first message if
    that was recorded (a crash between Slack's reply and the write leaves none)."""
    event = {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> resume me", "ts": ts, "channel": GENERAL}
    db = await open_database(settings.db_path)
    await migrate(db)
    await db.execute(
        "INSERT INTO inbox (event_id, event_type, body, attempts) VALUES (?, ?, ?, 1)",
        ("Ev0LOST", "app_mention", json.dumps(slack.event_callback(event, event_id="Ev0LOST"))),
    )
    answer_id = await db.insert(
        "INSERT INTO answers (channel, thread_ts, question_ts, asked_by, model, answer_ts) VALUES (?, ?, ?, ?, ?, ?)",
        (GENERAL, ts, ts, ALICE, "gpt-4.1-mini", answer_ts),
    )
    await db.close()
    assert answer_id is not None
    return answer_id


async def test_an_answer_interrupted_after_its_placeholder_is_resumed_in_place(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    settings = make_settings(tmp_path, slack, oai)
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> resume me")
    placeholder = slack.add_message(GENERAL, BOT, "Thinking…", thread_ts=ts, bot_id="B0BOT")
    await _half_answered(settings, slack, ts, answer_ts=placeholder)
    async with served(settings, slack) as app:
        await app.settle()
        assert slack.calls_to("chat.postMessage") == []
        assert [m["text"] for m in slack.thread(GENERAL, ts)[1:]] == ["Echo: resume me"]
        assert await app.db.fetchval("SELECT status FROM answers") == "answered"


async def test_a_stream_started_but_never_recorded_is_finished_in_place(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    settings = make_settings(tmp_path, slack, oai)
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> resume me")
    other_app = slack.add_message(GENERAL, "U0OTHERAPP", "A reminder", thread_ts=ts, bot_id="B0OTHER")
    earlier = slack.add_message(GENERAL, ALICE, f"<@{BOT}> and this?", thread_ts=ts)
    others = slack.workspace.add_message(GENERAL, BOT, "Other", ts, bot_id="B0BOT", stream="streaming").ts
    left = slack.workspace.add_message(GENERAL, BOT, "word", ts, bot_id="B0BOT", stream="streaming").ts
    await _half_answered(settings, slack, ts)
    db = await open_database(settings.db_path)
    await db.execute(  # another answer in the thread, whose first message was recorded: not this one's
        "INSERT INTO answers (channel, thread_ts, question_ts, asked_by, model, answer_ts, status)"
        " VALUES (?, ?, ?, ?, ?, ?, 'answered')",
        (GENERAL, ts, earlier, ALICE, "gpt-4.1-mini", others),
    )
    await db.close()
    async with served(settings, slack) as app:
        await app.settle()
        assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("chat.startStream") == []
        texts = {m["ts"]: m["text"] for m in slack.thread(GENERAL, ts)[1:]}
        assert texts == {
            other_app: "A reminder",
            earlier: f"<@{BOT}> and this?",
            others: "Other",
            left: "Echo: resume me",
        }
        assert await app.db.fetchval("SELECT answer_ts FROM answers WHERE question_ts = ?", (ts,)) == left


async def test_a_placeholder_posted_but_never_recorded_is_found_by_its_metadata(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    settings = make_settings(tmp_path, slack, oai)
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> resume me")
    answer_id = await _half_answered(settings, slack, ts)
    tag = {"event_type": "tuneloop_answer", "event_payload": {"key": f"{answer_id}:0"}}
    placeholder = slack.workspace.add_message(GENERAL, BOT, "Thinking…", ts, bot_id="B0BOT", metadata=tag).ts
    async with served(settings, slack) as app:
        await app.settle()
        assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("chat.startStream") == []
        assert [(m["ts"], m["text"]) for m in slack.thread(GENERAL, ts)[1:]] == [(placeholder, "Echo: resume me")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_sigterm_finishes_work_closes_the_database_and_exits_zero(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    port = free_port()
    db_path = tmp_path / "served.db"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "OPENAI_API_KEY": "sk-test-0000",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "OPENAI_BASE_URL": oai.base_url,
        "TUNELOOP_DB": str(db_path),
        "PYTHONPATH": str(REPO),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--http",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await wait_listening(port)
        oai.latency = 0.5  # the answer is still being written when SIGTERM arrives
        ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> quick")
        body = json.dumps(
            slack.event_callback(
                {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> quick", "ts": ts, "channel": GENERAL}
            )
        )
        headers = {"Content-Type": "application/json", **FakeSlack.sign(body, SIGNING_SECRET)}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as response:
                assert response.status == 200
        await eventually(lambda: oai.calls_to("POST /v1/chat/completions") != [])  # the model is answering
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, output.decode()
    assert b"stopped cleanly" in output
    assert slack.thread(GENERAL, ts)[1]["text"] == "Echo: quick"  # the answer in flight was finished
    db = await open_database(db_path)
    assert await db.fetchval("PRAGMA integrity_check") == "ok"
    assert await db.fetchval("SELECT status FROM answers") == "answered"
    await db.close()


async def wait_listening(port: int, timeout: float = 30.0) -> None:
    await eventually(lambda: listening(port), timeout=timeout, interval=0.1, what="the server listening")
