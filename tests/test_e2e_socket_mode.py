"""Socket Mode: the same app, events arriving over the fake's websocket."""

from __future__ import annotations

from pathlib import Path

from bot.runtime import Runtime
from bot.server import socket_mode
from tests.conftest import ALICE, BOT, GENERAL, eventually, make_settings, strict_openai
from tests.fakes import FakeOpenAI, FakeSlack


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
            event = {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> over the socket?", "ts": ts, "channel": GENERAL}
            ack = await slack.socket_send(slack.event_callback(event, event_id="Ev0SOCKET"))
            assert ack["envelope_id"]
            assert await runtime.db.fetchval("SELECT count(*) FROM inbox WHERE event_id = 'Ev0SOCKET'") == 1
            await eventually(lambda: len(slack.thread(GENERAL, ts)) == 2 and "Echo" in slack.thread(GENERAL, ts)[1]["text"])
            assert slack.thread(GENERAL, ts)[1]["text"] == "Echo: over the socket?"
    finally:
        await runtime.close()
    assert slack.calls_to("apps.connections.open")[0].token == "xapp-test-token"
