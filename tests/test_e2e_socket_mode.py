"""Socket Mode: the same app, events arriving over the fake's websocket."""

from __future__ import annotations

from pathlib import Path

from bot.fakes import FakeOpenAI, FakeSlack
from bot.runtime import Runtime
from bot.server import socket_mode
from tests.capture_helpers import shortcut, submission
from tests.conftest import (
    ALICE,
    BOB,
    BOT,
    GENERAL,
    make_settings,
    strict_openai,
)
from tests.waiting import eventually


async def test_an_event_over_the_websocket_is_acked_stored_and_answered(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    settings = make_settings(tmp_path, slack, oai, SLACK_APP_TOKEN="xapp-test-token", SLACK_SIGNING_SECRET="")
    assert settings.socket_mode and settings.missing(http=False) == []
    runtime = await Runtime.start(settings, llm=strict_openai(settings))
    try:
        async with socket_mode(runtime):
            await slack.wait_socket_connected()
            ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> over the socket?")
            event = {
                "type": "app_mention",
                "user": ALICE,
                "text": f"<@{BOT}> over the socket?",
                "ts": ts,
                "channel": GENERAL,
            }
            ack = await slack.socket_send(slack.event_callback(event, event_id="Ev0SOCKET"))
            assert ack["envelope_id"]
            assert await runtime.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = 'Ev0SOCKET'") == 1
            await eventually(
                lambda: len(slack.thread(GENERAL, ts)) == 2 and "Echo" in slack.thread(GENERAL, ts)[1]["text"]
            )
            assert slack.thread(GENERAL, ts)[1]["text"] == "Echo: over the socket?"
    finally:
        await runtime.close()
    assert slack.calls_to("apps.connections.open")[0].token == "xapp-test-token"


async def test_a_correction_over_the_websocket_is_acked_while_a_slack_call_it_needs_is_held(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    """Reading the thread is held for 5 s: the envelope's ack comes back first, the correction after."""
    root = slack.add_message(GENERAL, ALICE, "Which port?")
    reply = slack.add_message(GENERAL, BOB, "Port 80.", thread_ts=root)
    settings = make_settings(tmp_path, slack, oai, SLACK_APP_TOKEN="xapp-test-token", SLACK_SIGNING_SECRET="")
    runtime = await Runtime.start(settings, llm=strict_openai(settings))
    try:
        async with socket_mode(runtime):
            await slack.wait_socket_connected()
            await slack.socket_send(shortcut(slack, user=BOB, channel=GENERAL, ts=reply), type="interactive")
            await eventually(lambda: len(slack.calls_to("views.update")) == 1)
            view = slack.calls_to("views.update")[0].args["view"]
            slack.fail("conversations.replies", delay=5.0, times=3)
            slack.fail("conversations.history", delay=5.0, times=3)
            ack = await slack.socket_send(submission(view, user=BOB, text="Port 8443."), type="interactive")
            assert ack["envelope_id"] and not ack.get("payload")  # accepted: the form closes
            await eventually(lambda: slack.pending_faults < 6)  # the correction now waits on a held call…
            assert await runtime.db.fetchval("SELECT count(*) FROM corrections") == 0  # …which the ack did not
            await eventually(
                lambda: any(e["text"].startswith(":white_check_mark:") for e in slack.ephemerals), timeout=30
            )
        assert await runtime.db.fetchval("SELECT text FROM corrections") == "Port 8443."
    finally:
        await runtime.close()
