"""The fakes, driven by the real slack_sdk, slack_bolt and openai clients.

If one of these fails after a client upgrade, the fake has drifted from the
shapes the client expects; fix the fake, not the test.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.fakes import FakeOpenAI, FakeSlack, netguard
from bot.fakes.server import method_matches
from tests.waiting import eventually

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
TRAINING_LINE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def jsonl(lines: int, line: dict[str, Any] = TRAINING_LINE) -> bytes:
    return ("\n".join(json.dumps(line) for _ in range(lines)) + "\n").encode()


# -- fixtures -------------------------------------------------------------------


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U1", "alice", real_name="Alice Doe", display_name="alice")
        fake.add_user("U2", "bob", real_name="Bob Roe")
        fake.add_channel("C1", "general")
        fake.add_channel("C2", "random", is_member=False)
        fake.add_channel("D1", "", is_im=True, user="U1")
        yield fake


@pytest.fixture
def web(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)


@pytest_asyncio.fixture
async def oai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


def openai_client(oai: FakeOpenAI, **options: Any) -> AsyncOpenAI:
    options.setdefault("max_retries", 0)
    return AsyncOpenAI(base_url=oai.base_url, api_key="sk-test", _strict_response_validation=True, **options)


@pytest_asyncio.fixture
async def client(oai: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with openai_client(oai) as c:
        yield c


async def upload_training_file(client: AsyncOpenAI, lines: int = 10) -> str:
    return (await client.files.create(file=("train.jsonl", jsonl(lines)), purpose="fine-tune")).id


# -- shared machinery -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "method", "expected"),
    [
        ("chat.postMessage", "chat.postMessage", True),
        ("chat.postMessage", "chat.postMessageX", False),
        ("GET /v1/fine_tuning/jobs/{id}", "GET /v1/fine_tuning/jobs/ftjob-1", True),
        ("GET /v1/fine_tuning/jobs/{id}", "GET /v1/fine_tuning/jobs/ftjob-1/events", False),
        ("GET /v1/files/{id}", "POST /v1/files/file-1", False),
    ],
)
def test_method_patterns(pattern: str, method: str, expected: bool) -> None:
    assert method_matches(pattern, method) is expected


@pytest.mark.asyncio
async def test_fake_binds_loopback_on_an_ephemeral_port_and_stops_cleanly() -> None:
    fake = FakeSlack()
    with pytest.raises(RuntimeError):
        _ = fake.api_url
    await fake.start()
    assert fake.api_url == f"http://127.0.0.1:{fake.port}/api/"
    await fake.stop()
    await fake.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()


# -- Slack Web API ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_auth_test_and_token_recording(slack: FakeSlack, web: AsyncWebClient) -> None:
    response = await web.auth_test()
    assert response["team_id"] == "T0001"
    assert response["user_id"] == "U0BOT"
    assert response["bot_id"] == "B0BOT"
    [call] = slack.calls_to("auth.test")
    assert call.token == BOT_TOKEN
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"


@pytest.mark.asyncio
async def test_post_reply_update_and_delete_are_reflected_in_the_thread(slack: FakeSlack, web: AsyncWebClient) -> None:
    root = slack.add_message("C1", "U1", "how do I deploy?")
    posted = await web.chat_postMessage(channel="C1", text="like this", thread_ts=root)
    assert posted["message"]["bot_id"] == "B0BOT"
    assert posted["message"]["user"] == "U0BOT"
    assert posted["message"]["thread_ts"] == root

    thread = (await web.conversations_replies(channel="C1", ts=root))["messages"]
    assert [m["text"] for m in thread] == ["how do I deploy?", "like this"]
    assert thread[0]["reply_count"] == 1
    assert thread[0]["latest_reply"] == posted["ts"]
    assert thread[0]["reply_users"] == ["U0BOT"]

    updated = await web.chat_update(channel="C1", ts=posted["ts"], text="like that")
    assert updated["message"]["edited"]["user"] == "U0BOT"
    assert slack.message("C1", posted["ts"])["text"] == "like that"

    await web.chat_delete(channel="C1", ts=posted["ts"])
    assert [m["text"] for m in slack.thread("C1", root)] == ["how do I deploy?"]
    assert "reply_count" not in slack.message("C1", root)


@pytest.mark.asyncio
async def test_generated_ts_are_unique_increasing_and_slack_shaped(slack: FakeSlack) -> None:
    stamps = [slack.add_message("C1", "U1", f"m{i}") for i in range(5)]
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 5
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    explicit = slack.add_message("C1", "U1", "later", ts="9999999999.000100")
    assert float(slack.add_message("C1", "U1", "after")) > float(explicit)


@pytest.mark.asyncio
async def test_form_bodies_decode_json_encoded_arguments(slack: FakeSlack, web: AsyncWebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    await web.api_call("chat.postMessage", data={"channel": "C1", "text": "hi", "blocks": json.dumps(blocks)})
    await web.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    form_call, json_call = slack.calls_to("chat.postMessage")
    assert form_call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert json_call.headers["content-type"].startswith("application/json")
    assert form_call.args["blocks"] == json_call.args["blocks"] == blocks
    assert [m["blocks"] for m in slack.bot_messages()] == [blocks, blocks]


@pytest.mark.asyncio
async def test_chat_post_message_errors(slack: FakeSlack, web: AsyncWebClient) -> None:
    for channel, error in [("C404", "channel_not_found"), ("C2", "not_in_channel")]:
        with pytest.raises(SlackApiError) as raised:
            await web.chat_postMessage(channel=channel, text="x")
        assert raised.value.response["error"] == error
    with pytest.raises(SlackApiError, match="no_text"):
        await web.api_call("chat.postMessage", json={"channel": "C1"})
    too_many = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        await web.chat_postMessage(channel="C1", text="x", blocks=too_many)


@pytest.mark.asyncio
async def test_posting_to_a_user_id_opens_a_dm(slack: FakeSlack, web: AsyncWebClient) -> None:
    posted = await web.chat_postMessage(channel="U2", text="psst")
    assert posted["channel"].startswith("D")
    info = await web.conversations_info(channel=posted["channel"])
    assert info["channel"]["is_im"] is True
    assert info["channel"]["user"] == "U2"
    opened = await web.conversations_open(users="U2")
    assert opened["channel"]["id"] == posted["channel"]


@pytest.mark.asyncio
async def test_history_is_newest_first_filtered_and_paginated(slack: FakeSlack, web: AsyncWebClient) -> None:
    stamps = [slack.add_message("C1", "U1", f"m{i}") for i in range(5)]
    slack.add_message("C1", "U2", "a reply", thread_ts=stamps[0])

    everything = await web.conversations_history(channel="C1")
    assert [m["text"] for m in everything["messages"]] == ["m4", "m3", "m2", "m1", "m0"]

    window = await web.conversations_history(channel="C1", oldest=stamps[1], latest=stamps[3])
    assert [m["text"] for m in window["messages"]] == ["m2"]
    inclusive = await web.conversations_history(channel="C1", oldest=stamps[1], latest=stamps[3], inclusive=True)
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]

    pages = [
        ([m["text"] for m in page["messages"]], page["has_more"])
        async for page in await web.conversations_history(channel="C1", limit=2)
    ]
    assert pages == [(["m4", "m3"], True), (["m2", "m1"], True), (["m0"], False)]


@pytest.mark.asyncio
async def test_replies_paginate_and_a_reply_ts_gives_that_reply_alone(slack: FakeSlack, web: AsyncWebClient) -> None:
    root = slack.add_message("C1", "U1", "root", reactions={"+1": ["U2"]})
    replies = [slack.add_message("C1", "U2", f"r{i}", thread_ts=root) for i in range(3)]
    pages = [page["messages"] async for page in await web.conversations_replies(channel="C1", ts=root, limit=2)]
    assert [[m["text"] for m in messages] for messages in pages] == [["root", "r0"], ["r1", "r2"]]
    assert pages[0][0]["reactions"] == [{"name": "+1", "users": ["U2"], "count": 1}]
    assert pages[0][1]["parent_user_id"] == "U1"

    via_reply = await web.conversations_replies(channel="C1", ts=replies[1])
    assert [m["text"] for m in via_reply["messages"]] == ["r1"]
    assert via_reply["messages"][0]["thread_ts"] == root


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("channel", "ts", "error"),
    [
        ("C1", "1.000001", "thread_not_found"),
        ("C404", "1.000001", "channel_not_found"),
        ("C2", "1.000001", "not_in_channel"),
    ],
)
async def test_replies_errors(web: AsyncWebClient, channel: str, ts: str, error: str) -> None:
    with pytest.raises(SlackApiError) as raised:
        await web.conversations_replies(channel=channel, ts=ts)
    assert raised.value.response["error"] == error


@pytest.mark.asyncio
async def test_invalid_cursor_is_refused(web: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="invalid_cursor"):
        await web.users_list(cursor="not-a-cursor")


@pytest.mark.asyncio
async def test_conversations_info_members_and_join(slack: FakeSlack, web: AsyncWebClient) -> None:
    info = await web.conversations_info(channel="C2", include_num_members=True)
    assert info["channel"]["name"] == "random"
    assert info["channel"]["is_member"] is False
    assert info["channel"]["num_members"] == 2
    assert "U0BOT" not in (await web.conversations_members(channel="C2"))["members"]

    joined = await web.conversations_join(channel="C2")
    assert joined["channel"]["is_member"] is True
    assert "U0BOT" in (await web.conversations_members(channel="C2"))["members"]
    again = await web.conversations_join(channel="C2")
    assert again["warning"] == "already_in_channel"
    with pytest.raises(SlackApiError, match="method_not_supported_for_channel_type"):
        await web.conversations_join(channel="D1")


@pytest.mark.asyncio
async def test_conversations_list_filters_by_type_and_paginates(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.add_channel("G1", "secret", is_private=True)
    slack.add_channel("G2", "hidden", is_private=True, is_member=False)
    public = [[c["id"] for c in page["channels"]] async for page in await web.conversations_list(limit=1)]
    assert public == [["C1"], ["C2"]]
    every = await web.conversations_list(types="public_channel,private_channel,im")
    assert [c["id"] for c in every["channels"]] == ["C1", "C2", "D1", "G1"]


@pytest.mark.asyncio
async def test_reactions_get_and_add(slack: FakeSlack, web: AsyncWebClient) -> None:
    ts = slack.add_message("C1", "U1", "nice", reactions=[{"name": "thumbsup", "users": ["U2"]}])
    await web.reactions_add(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError, match="already_reacted"):
        await web.reactions_add(channel="C1", timestamp=ts, name="eyes")
    got = await web.reactions_get(channel="C1", timestamp=ts)
    assert got["type"] == "message"
    assert got["message"]["reactions"] == [
        {"name": "thumbsup", "users": ["U2"], "count": 1},
        {"name": "eyes", "users": ["U0BOT"], "count": 1},
    ]
    with pytest.raises(SlackApiError, match="message_not_found"):
        await web.reactions_get(channel="C1", timestamp="1.000001")


@pytest.mark.asyncio
async def test_users_list_paginates_and_users_info(slack: FakeSlack, web: AsyncWebClient) -> None:
    pages = [[m["id"] for m in page["members"]] async for page in await web.users_list(limit=2)]
    assert pages == [["U0BOT", "U1"], ["U2"]]
    alice = (await web.users_info(user="U1"))["user"]
    assert alice["profile"]["display_name"] == "alice"
    assert alice["real_name"] == "Alice Doe"
    assert (await web.users_info(user="U0BOT"))["user"]["is_bot"] is True
    with pytest.raises(SlackApiError, match="user_not_found"):
        await web.users_info(user="U404")


@pytest.mark.asyncio
async def test_ephemeral_and_permalink(slack: FakeSlack, web: AsyncWebClient) -> None:
    response = await web.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert slack.ephemerals == [
        {
            "channel": "C1",
            "user": "U1",
            "text": "only you",
            "blocks": None,
            "thread_ts": None,
            "message_ts": response["message_ts"],
        }
    ]
    assert slack.bot_messages() == []

    root = slack.add_message("C1", "U1", "root", ts="1700000000.000100")
    reply = slack.add_message("C1", "U2", "reply", thread_ts=root, ts="1700000001.000200")
    assert (await web.chat_getPermalink(channel="C1", message_ts=root))["permalink"] == (
        "https://fake.slack.com/archives/C1/p1700000000000100"
    )
    link = (await web.chat_getPermalink(channel="C1", message_ts=reply))["permalink"]
    assert link.endswith(f"p1700000001000200?thread_ts={root}&cid=C1")


@pytest.mark.asyncio
async def test_views_open_push_update_and_publish(slack: FakeSlack, web: AsyncWebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "correct_answer",
        "title": {"type": "plain_text", "text": "Fix"},
        "private_metadata": "C1:123",
        "blocks": [
            {
                "type": "input",
                "block_id": "b",
                "element": {"type": "plain_text_input"},
                "label": {"type": "plain_text", "text": "Answer"},
            }
        ],
    }
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        await web.api_call("views.open", json={"view": modal})
    opened = (await web.views_open(trigger_id="trig-1", view=modal))["view"]
    assert opened["id"].startswith("V")
    assert opened["callback_id"] == "correct_answer"
    assert opened["private_metadata"] == "C1:123"
    assert opened["blocks"] == modal["blocks"]

    pushed = (await web.views_push(trigger_id="trig-2", view=modal))["view"]
    assert pushed["previous_view_id"] == opened["id"]
    assert pushed["root_view_id"] == opened["id"]

    changed = {**modal, "title": {"type": "plain_text", "text": "Fixed"}}
    updated = (await web.views_update(view_id=opened["id"], view=changed, hash=opened["hash"]))["view"]
    assert updated["id"] == opened["id"]
    assert slack.views[opened["id"]]["title"]["text"] == "Fixed"
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await web.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])

    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}
    published = (await web.views_publish(user_id="U1", view=home))["view"]
    assert slack.home_tabs["U1"]["id"] == published["id"]

    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    with pytest.raises(SlackApiError) as raised:
        await web.views_open(trigger_id="trig-3", view=long_title)
    assert "title" in raised.value.response["response_metadata"]["messages"][0]


@pytest.mark.asyncio
async def test_files_upload_v2_stores_bytes_and_shares_into_the_thread(slack: FakeSlack, web: AsyncWebClient) -> None:
    root = slack.add_message("C1", "U1", "export please")
    response = await web.files_upload_v2(
        channel="C1",
        thread_ts=root,
        content="a,b\n1,2\n",
        filename="data.csv",
        title="Dataset",
        initial_comment="here",
    )
    [uploaded] = slack.files
    assert uploaded.content == b"a,b\n1,2\n"
    assert (uploaded.title, uploaded.filename, uploaded.channel_id, uploaded.thread_ts) == (
        "Dataset",
        "data.csv",
        "C1",
        root,
    )
    assert response["file"]["id"] == uploaded.id
    assert len(slack.calls_to("upload_url")) == 1
    share = slack.thread("C1", root)[-1]
    assert share["text"] == "here"
    assert share["files"][0]["id"] == uploaded.id


@pytest.mark.asyncio
async def test_unknown_method_and_token_checks(slack: FakeSlack, web: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="unknown_method"):
        await web.api_call("nope.nothing")
    with pytest.raises(SlackApiError, match="not_authed"):
        await AsyncWebClient(base_url=slack.api_url).auth_test()
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await AsyncWebClient(token=APP_TOKEN, base_url=slack.api_url).auth_test()
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await web.apps_connections_open(app_token=BOT_TOKEN)


# -- Slack fault injection --------------------------------------------------------


@pytest.mark.asyncio
async def test_injected_slack_error_is_consumed_once(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as raised:
        await web.chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "channel_not_found"
    await web.chat_postMessage(channel="C1", text="x")
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert slack.pending_faults == 0


@pytest.mark.asyncio
async def test_rate_limit_is_retried_after_retry_after(slack: FakeSlack) -> None:
    slack.fail("chat.update", status=429, retry_after=0)
    slack.fail("chat.postMessage", status=429, retry_after=0)
    plain = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as raised:
        await plain.chat_update(channel="C1", ts="1.000001", text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "0"
    assert raised.value.response["error"] == "ratelimited"

    patient = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    assert (await patient.chat_postMessage(channel="C1", text="x"))["ok"] is True
    assert len(slack.calls_to("chat.postMessage")) == 2


@pytest.mark.asyncio
async def test_server_error_and_delay(slack: FakeSlack) -> None:
    slack.fail("auth.test", status=500)
    quick = FixedValueRetryIntervalCalculator(fixed_internal=0.01)
    retrying = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1, interval_calculator=quick)],
    )
    assert (await retrying.auth_test())["ok"] is True
    assert len(slack.calls_to("auth.test")) == 2

    slack.fail("auth.test", delay=5.0)
    impatient = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=0.2)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        await impatient.auth_test()


@pytest.mark.asyncio
async def test_fail_needs_something_to_do(slack: FakeSlack) -> None:
    with pytest.raises(ValueError, match="needs status, error or delay"):
        slack.fail("auth.test")


# -- response_url and signing ------------------------------------------------------


@pytest.mark.asyncio
async def test_response_url_records_what_respond_sends(slack: FakeSlack) -> None:
    url = slack.response_url("cmd")
    response = await AsyncWebhookClient(url).send(text="done", response_type="ephemeral")
    assert (response.status_code, response.body) == (200, "ok")
    assert slack.responses == [{"text": "done", "response_type": "ephemeral"}]
    assert slack.calls_to("response_url")[0].args["text"] == "done"


def test_sign_matches_slack_sdk_verifier() -> None:
    body = "token=x&command=%2Ftune&text=help"
    headers = FakeSlack.sign(body, "shh")
    assert SignatureVerifier("shh").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    stale = FakeSlack.sign(body, "shh", timestamp=int(time.time()) - 600)
    assert not SignatureVerifier("shh").is_valid_request(body, stale)


# -- Socket Mode ---------------------------------------------------------------------


async def connect_socket_client(slack: FakeSlack, **options: Any) -> SocketModeClient:
    web = AsyncWebClient(base_url=slack.api_url)
    client = SocketModeClient(app_token=APP_TOKEN, web_client=web, **options)
    await client.connect()
    await slack.wait_socket_connected(timeout=3)
    return client


async def ack_everything(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
    response = SocketModeResponse(envelope_id=request.envelope_id, payload={"seen": request.type})
    await client.send_socket_mode_response(response)


@pytest.mark.asyncio
async def test_socket_send_returns_the_ack(slack: FakeSlack) -> None:
    client = await connect_socket_client(slack)
    received: list[SocketModeRequest] = []

    async def listener(c: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        await ack_everything(c, request)

    client.socket_mode_request_listeners.append(listener)
    try:
        event = slack.event_callback(
            {"type": "app_mention", "user": "U1", "text": "<@U0BOT> hi", "channel": "C1", "ts": "1.000001"}
        )
        ack = await slack.socket_send(event, timeout=3)
        assert ack["payload"] == {"seen": "events_api"}
        assert received[0].payload["event"]["type"] == "app_mention"
        assert received[0].retry_attempt == 0

        ack = await slack.socket_send({"command": "/tune", "text": "help"}, type="slash_commands")
        assert ack["envelope_id"] == received[1].envelope_id
        assert received[1].accepts_response_payload is True
        assert [a["envelope_id"] for a in slack.socket_acks] == [r.envelope_id for r in received]
        assert slack.calls_to("apps.connections.open")[0].token == APP_TOKEN
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_socket_send_times_out_without_an_ack(slack: FakeSlack) -> None:
    client = await connect_socket_client(slack)
    try:
        with pytest.raises(TimeoutError, match="no ack"):
            await slack.socket_send({"event": {}}, timeout=0.2)
    finally:
        await client.close()
    with pytest.raises(RuntimeError, match="no Socket Mode client"):
        await slack.socket_send({"event": {}}, timeout=0.2)


@pytest.mark.asyncio
async def test_socket_ping_pong_keeps_the_connection_alive(slack: FakeSlack) -> None:
    client = await connect_socket_client(slack, ping_interval=0.1)
    try:
        await asyncio.sleep(0.5)
        assert client.last_ping_pong_time is not None
        assert time.time() - client.last_ping_pong_time < 0.4
        assert await client.is_connected()
        assert len(slack.calls_to("apps.connections.open")) == 1
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_socket_disconnect_makes_the_client_reconnect(slack: FakeSlack) -> None:
    client = await connect_socket_client(slack)
    try:
        await slack.socket_disconnect()
        await eventually(lambda: len(slack.calls_to("apps.connections.open")) == 2)
        await eventually(lambda: slack.socket.connection_count == 1)
        client.socket_mode_request_listeners.append(ack_everything)
        assert (await slack.socket_send({"event": {}}, timeout=3))["payload"] == {"seen": "events_api"}
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_stopping_the_fake_closes_the_websocket_cleanly() -> None:
    slack = FakeSlack()
    await slack.start()
    client = await connect_socket_client(slack, auto_reconnect_enabled=False)
    session = client.current_session
    try:
        await slack.stop()
        assert session is not None
        await eventually(lambda: session.closed)
        assert session.close_code == aiohttp.WSCloseCode.GOING_AWAY
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_bolt_app_over_socket_mode(slack: FakeSlack) -> None:
    app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))

    @app.event("app_mention")
    async def answer(event: dict[str, Any], say: Any) -> None:
        await say(text="hello!", thread_ts=event["ts"])

    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    await handler.connect_async()
    try:
        await slack.wait_socket_connected(timeout=3)
        root = slack.add_message("C1", "U1", "<@U0BOT> hi")
        event = {
            "type": "app_mention",
            "user": "U1",
            "text": "<@U0BOT> hi",
            "channel": "C1",
            "ts": root,
            "event_ts": root,
        }
        ack = await slack.socket_send(slack.event_callback(event), timeout=3)
        assert "envelope_id" in ack
        await eventually(lambda: len(slack.thread("C1", root)) == 2)
        assert slack.thread("C1", root)[1]["text"] == "hello!"
    finally:
        await handler.close_async()


# -- OpenAI: chat ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chat_completion_echoes_by_default(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello there"}],
    )
    assert completion.choices[0].message.content == "Echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    [call] = oai.calls_to("POST /v1/chat/completions")
    assert call.token == "sk-test"
    assert call.args["messages"][1]["content"] == "hello there"


@pytest.mark.asyncio
async def test_scripted_replies(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    messages: Any = [{"role": "user", "content": "q"}]
    oai.reply_with("fixed answer")
    first = await client.chat.completions.create(model="gpt-4o", messages=messages)
    oai.reply_with(lambda request: f"{request['model']} saw {len(request['messages'])}")
    second = await client.chat.completions.create(model="gpt-4o", messages=messages)

    async def slow(request: dict[str, Any]) -> str:
        return f"async {request['messages'][-1]['content']}"

    oai.reply_with(slow)
    third = await client.chat.completions.create(model="gpt-4o", messages=messages)
    assert [c.choices[0].message.content for c in (first, second, third)] == [
        "fixed answer",
        "gpt-4o saw 1",
        "async q",
    ]


@pytest.mark.asyncio
async def test_max_tokens_truncates_with_finish_reason_length(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    oai.reply_with("one two three four")
    completion = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "q"}], max_completion_tokens=2
    )
    assert completion.choices[0].message.content == "one two"
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.asyncio
async def test_streaming_with_usage(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    oai.reply_with("streamed words arrive")
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "q"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed words arrive"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


@pytest.mark.asyncio
async def test_latency_does_not_serialise_concurrent_requests(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    oai.latency = 0.2
    messages: Any = [{"role": "user", "content": "q"}]
    await asyncio.gather(*(client.chat.completions.create(model="gpt-4o", messages=messages) for _ in range(5)))
    assert oai.max_concurrent_chat == 5


@pytest.mark.asyncio
async def test_chat_rejects_unknown_models_and_empty_messages(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "q"}])
    assert raised.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="gpt-4o", messages=[])
    oai.add_model("my-local-model")
    await client.chat.completions.create(model="my-local-model", messages=[{"role": "user", "content": "q"}])


# -- OpenAI: models, files, errors ----------------------------------------------------


@pytest.mark.asyncio
async def test_models_list_and_retrieve(client: AsyncOpenAI) -> None:
    ids = [m.id async for m in client.models.list()]
    assert "gpt-4o-mini-2024-07-18" in ids
    assert (await client.models.retrieve("gpt-4.1")).owned_by == "system"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-nope")


@pytest.mark.asyncio
async def test_files_round_trip(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    created = await client.files.create(file=("train.jsonl", b'{"a": 1}\n'), purpose="fine-tune")
    assert (created.filename, created.bytes, created.purpose) == ("train.jsonl", 9, "fine-tune")
    assert oai.files[created.id].content == b'{"a": 1}\n'
    assert (await client.files.retrieve(created.id)).id == created.id
    assert (await client.files.content(created.id)).content == b'{"a": 1}\n'
    assert [f.id async for f in client.files.list(purpose="fine-tune")] == [created.id]
    assert (await client.files.delete(created.id)).deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(created.id)


@pytest.mark.asyncio
async def test_openai_errors_have_openai_shape(oai: FakeOpenAI) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{oai.base_url}/models") as response:
            assert response.status == 401
            assert set((await response.json())["error"]) == {"message", "type", "param", "code"}
        async with session.get(f"{oai.base_url}/nothing", headers={"Authorization": "Bearer sk-x"}) as response:
            assert response.status == 404
            assert (await response.json())["error"]["message"] == "Invalid URL (GET /v1/nothing)"
            assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.asyncio
async def test_rate_limit_is_retried_once(oai: FakeOpenAI) -> None:
    oai.fail("POST /v1/chat/completions", status=429, retry_after=0)
    async with openai_client(oai, max_retries=1) as retrying:
        completion = await retrying.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
    assert completion.choices[0].message.content == "Echo: q"
    assert len(oai.calls_to("POST /v1/chat/completions")) == 2

    oai.fail("POST /v1/chat/completions", status=429, retry_after=7)
    async with openai_client(oai) as once:
        with pytest.raises(openai.RateLimitError) as raised:
            await once.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.code == "rate_limit_exceeded"


@pytest.mark.asyncio
async def test_openai_server_error_and_timeout(oai: FakeOpenAI) -> None:
    oai.fail("GET /v1/fine_tuning/jobs/{job_id}", status=500)
    async with openai_client(oai) as c:
        with pytest.raises(openai.InternalServerError):
            await c.fine_tuning.jobs.retrieve("ftjob-anything")
    oai.fail("GET /v1/models", delay=5.0)
    async with openai_client(oai, timeout=0.2) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.models.list()
    assert oai.calls_to("GET /v1/fine_tuning/jobs/{job_id}")[0].method == "GET /v1/fine_tuning/jobs/ftjob-anything"


# -- OpenAI: fine-tuning -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_job_create_validates_files_and_model(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file="file-missing")
    assert raised.value.param == "training_file"
    assert isinstance(raised.value.body, dict)
    assert set(raised.value.body) == {"message", "type", "param", "code"}
    training = await upload_training_file(client)
    with pytest.raises(openai.BadRequestError) as raised:
        await client.fine_tuning.jobs.create(model="gpt-5", training_file=training)
    assert raised.value.param == "model"


@pytest.mark.asyncio
async def test_job_advances_stage_by_stage_to_success(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    training = await upload_training_file(client, lines=12)
    validation = await upload_training_file(client, lines=3)
    oai.script_job(total_steps=4)
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=training,
        validation_file=validation,
        suffix="support",
        metadata={"dataset": "faq@2"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    assert job.status == "validating_files"

    statuses = []
    for _ in range(3):
        oai.advance(job.id)
        statuses.append((await client.fine_tuning.jobs.retrieve(job.id)).status)
    assert statuses == ["queued", "running", "running"]
    oai.advance(job.id, steps=3)
    running = await client.fine_tuning.jobs.retrieve(job.id)
    assert running.estimated_finish is not None
    assert running.fine_tuned_model is None
    assert running.hyperparameters.n_epochs == 2
    assert running.hyperparameters.batch_size == 1

    oai.advance(job.id)
    done = await client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model == f"ft:gpt-4o-mini-2024-07-18:tuneloop:support:{job.id[-8:]}"
    assert done.trained_tokens
    assert done.trained_tokens > 0
    assert done.finished_at is not None
    assert done.error is None
    assert (await client.models.retrieve(done.fine_tuned_model)).owned_by == "org-tuneloop-test"
    results = (await client.files.content(done.result_files[0])).content.decode()
    assert results.startswith("step,train_loss")
    assert len(results.splitlines()) == 5

    metrics = [
        e.data for e in reversed([e async for e in client.fine_tuning.jobs.list_events(job.id)]) if e.type == "metrics"
    ]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]  # type: ignore[index]
    losses = [m["train_loss"] for m in metrics]  # type: ignore[index]
    assert losses == sorted(losses, reverse=True)
    assert len(set(losses)) == 4
    assert all(m["valid_loss"] > 0 and m["total_steps"] == 4 for m in metrics)  # type: ignore[index]

    checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert [c.step_number for c in checkpoints] == [4, 2]
    assert checkpoints[0].fine_tuned_model_checkpoint.endswith(":ckpt-step-4")


@pytest.mark.asyncio
async def test_advance_on_retrieve_moves_a_polled_job(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    oai.advance_on_retrieve = True
    oai.script_job(total_steps=1)
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=await upload_training_file(client))
    statuses = [(await client.fine_tuning.jobs.retrieve(job.id)).status for _ in range(5)]
    assert statuses == ["queued", "running", "running", "succeeded", "succeeded"]


@pytest.mark.asyncio
async def test_events_paginate_newest_first(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    oai.script_job(total_steps=5)
    job = await client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14", training_file=await upload_training_file(client)
    )
    oai.run_to_end(job.id)
    expected = [e["id"] for e in reversed(oai.events(job.id))]

    first = await client.fine_tuning.jobs.list_events(job.id, limit=4)
    assert [e.id for e in first.data] == expected[:4]
    assert first.has_more is True
    after = await client.fine_tuning.jobs.list_events(job.id, after=first.data[-1].id, limit=100)
    assert [e.id for e in after.data] == expected[4:]
    assert after.has_more is False
    assert [e.id async for e in client.fine_tuning.jobs.list_events(job.id, limit=3)] == expected
    assert first.data[0].message == "The job has successfully completed"
    assert oai.events(job.id)[0]["message"].startswith("Validating training file")


@pytest.mark.asyncio
async def test_scripted_failure_and_cancellation(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    training = await upload_training_file(client)
    oai.script_job(total_steps=2, outcome="failed", error={"code": "invalid_data", "message": "Bad data"})
    oai.script_job(total_steps=2, outcome="cancelled")
    failing = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    cancelled = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    oai.run_to_end(failing.id)
    oai.run_to_end(cancelled.id)

    failed = await client.fine_tuning.jobs.retrieve(failing.id)
    assert failed.status == "failed"
    assert failed.fine_tuned_model is None
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == (
        "invalid_data",
        "Bad data",
    )
    assert oai.events(failing.id)[-1]["level"] == "error"
    assert (await client.fine_tuning.jobs.retrieve(cancelled.id)).status == "cancelled"


@pytest.mark.asyncio
async def test_cancel_is_immediate_and_only_once(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=await upload_training_file(client))
    oai.advance(job.id)
    cancelled = await client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    assert cancelled.finished_at is not None
    oai.advance()
    assert oai.job(job.id)["status"] == "cancelled"
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.NotFoundError):
        await client.fine_tuning.jobs.cancel("ftjob-missing")


@pytest.mark.asyncio
async def test_too_few_examples_fail_validation(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=await upload_training_file(client, lines=3)
    )
    oai.advance(job.id)
    failed = await client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_n_examples"
    assert failed.error.param == "training_file"


@pytest.mark.asyncio
async def test_jobs_list_paginates_and_filters_by_metadata(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    training = await upload_training_file(client)
    created = [
        await client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training, metadata={"team": "a" if i % 2 else "b"}
        )
        for i in range(5)
    ]
    await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    listed = [j.id async for j in client.fine_tuning.jobs.list(limit=2)]
    assert len(listed) == 6
    assert set(listed) >= {j.id for j in created}
    team_a = [j.id async for j in client.fine_tuning.jobs.list(metadata={"team": "a"})]
    assert sorted(team_a) == sorted(j.id for j in created[1::2])
    assert any(key.startswith("metadata[") for key in oai.calls_to("GET /v1/fine_tuning/jobs")[-1].args)


@pytest.mark.asyncio
async def test_refused_fine_tuning(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    training = await upload_training_file(client)
    oai.refuse_fine_tuning(code="fine_tuning_closed", message="Fine-tuning is closed for this org.")
    with pytest.raises(openai.PermissionDeniedError) as raised:
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    assert raised.value.code == "fine_tuning_closed"
    assert "closed" in raised.value.message
    oai.allow_fine_tuning()
    assert (await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)).id


@pytest.mark.asyncio
async def test_dpo_jobs_check_their_lines(oai: FakeOpenAI, client: AsyncOpenAI) -> None:
    job = await client.fine_tuning.jobs.create(
        model="gpt-4.1-2025-04-14",
        training_file=await upload_training_file(client),
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    assert job.method is not None
    assert job.method.dpo is not None
    assert job.method.dpo.hyperparameters is not None
    assert job.method.dpo.hyperparameters.beta == 0.2
    oai.advance(job.id)
    assert oai.job(job.id)["error"]["code"] == "invalid_training_file"


# -- netguard ------------------------------------------------------------------------


@pytest.fixture
def guard() -> Iterator[None]:
    was_installed, already_blocked = netguard.installed(), len(netguard.blocked)
    netguard.install()
    yield
    del netguard.blocked[already_blocked:]
    if not was_installed:
        netguard.uninstall()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("8.8.8.8", False),
        ("slack.com", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert netguard.is_loopback(host) is expected


@pytest.mark.usefixtures("guard")
def test_guard_refuses_remote_addresses_and_names() -> None:
    with pytest.raises(netguard.NetworkBlockedError):
        socket.create_connection(("10.255.255.1", 80), timeout=1)
    with pytest.raises(netguard.NetworkBlockedError):
        socket.getaddrinfo("api.openai.com", 443)
    probe = socket.socket()
    try:
        with pytest.raises(netguard.NetworkBlockedError):
            probe.connect_ex(("8.8.8.8", 53))
    finally:
        probe.close()
    assert netguard.blocked[-3:] == ["10.255.255.1:80", "'api.openai.com' (name lookup)", "8.8.8.8:53"]


@pytest.mark.usefixtures("guard")
def test_guard_lets_loopback_and_unix_sockets_through(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname(), timeout=1).close()
        socket.create_connection(("localhost", server.getsockname()[1]), timeout=1).close()
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as unix_server:
        unix_server.bind(path)
        unix_server.listen()
        with socket.socket(socket.AF_UNIX) as unix_client:
            unix_client.connect(path)


@pytest.mark.asyncio
@pytest.mark.usefixtures("guard")
async def test_guard_stops_async_clients(slack: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get("http://10.255.255.1/")
    async with AsyncOpenAI(base_url="https://api.example.com/v1", api_key="sk-test", max_retries=0) as c:
        with pytest.raises(openai.APIConnectionError):
            await c.models.list()
    assert (await AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url).auth_test())["ok"] is True


def test_install_and_uninstall_are_idempotent() -> None:
    was_installed = netguard.installed()
    netguard.uninstall()
    original = socket.socket.connect
    try:
        netguard.install()
        netguard.install()
        assert socket.socket.connect is not original
        netguard.uninstall()
        netguard.uninstall()
        assert socket.socket.connect is original
        assert not netguard.installed()
    finally:
        if was_installed:
            netguard.install()


# -- Slack's streaming methods: documented errors, rate tiers, the stream timeout (slack_limits.py) ---------


async def _stream(web: AsyncWebClient, slack: FakeSlack) -> str:
    root = slack.add_message("C1", "U1", "question")
    started = await web.chat_startStream(
        channel="C1", thread_ts=root, recipient_team_id="T0001", recipient_user_id="U1", markdown_text="hi"
    )
    return str(started["ts"])


@pytest.mark.asyncio
async def test_a_channel_that_cannot_stream_answers_the_documented_code(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.refuse_streaming("C1")
    root = slack.add_message("C1", "U1", "question")
    with pytest.raises(SlackApiError, match="channel_type_not_supported"):
        await web.chat_startStream(channel="C1", thread_ts=root, recipient_team_id="T0001", recipient_user_id="U1")


@pytest.mark.asyncio
async def test_stream_methods_answer_429_past_their_published_tier(slack: FakeSlack, web: AsyncWebClient) -> None:
    streams = [await _stream(web, slack) for _ in range(20)]  # Tier 2: 20 a minute
    with pytest.raises(SlackApiError) as limited:
        await _stream(web, slack)
    assert limited.value.response.status_code == 429 and limited.value.response["error"] == "ratelimited"
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    for n in range(100):  # Tier 4: 100 a minute, whatever the stream
        await web.chat_appendStream(channel="C1", ts=streams[n % 20], markdown_text=".")
    with pytest.raises(SlackApiError, match="ratelimited"):
        await web.chat_appendStream(channel="C1", ts=streams[0], markdown_text=".")
    assert slack.rate_tiers.limited == {"chat.startStream": 1, "chat.appendStream": 1}
    await web.chat_stopStream(channel="C1", ts=streams[0])  # its own bucket
    slack.rate_tiers.enabled = False
    await web.chat_appendStream(channel="C1", ts=streams[1], markdown_text=".")


@pytest.mark.asyncio
async def test_a_stream_left_silent_times_out(slack: FakeSlack, web: AsyncWebClient) -> None:
    ts = await _stream(web, slack)
    assert [m["ts"] for m in slack.still_streaming()] == [ts]
    slack.workspace.message("C1", ts).stream_heard -= 301  # five minutes without a call
    with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
        await web.chat_appendStream(channel="C1", ts=ts, markdown_text="late")
    assert slack.still_streaming() == []
    await web.chat_update(channel="C1", ts=ts, text="finished by an edit")
