"""/healthz, /readyz and /metrics: in HTTP mode beside /slack/events, in Socket Mode on a side port; and
`--log-format json`."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.fakes import FakeOpenAI, FakeSlack
from bot.health import side_server
from bot.server import EVENTS_PATH
from tests.capture_helpers import reaction
from tests.conftest import ALICE, BOB, BOTH_DATABASES, Harness, database_settings, make_settings, served
from tests.test_e2e_answering import mention
from tests.test_startup import Serve

pytestmark = BOTH_DATABASES


async def get(app: Harness, path: str) -> tuple[int, str]:
    async with app.session.get(app.url.replace(EVENTS_PATH, path)) as response:
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_alive_and_ready(app: Harness) -> None:
    assert await get(app, "/healthz") == (200, json.dumps({"status": "alive"}))
    status, body = await get(app, "/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready"}


async def test_not_ready_when_slack_is_unreachable_or_the_inbox_backs_up(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, database: str
) -> None:
    settings = make_settings(
        tmp_path, slack, oai, **database_settings(database, tmp_path), TUNELOOP_READY_MAX_BACKLOG="0"
    )
    async with served(settings, slack) as app:
        slack.fail("auth.test", error="token_revoked", times=5)
        await app.runtime.worker.stop(timeout=5)  # nothing may process the row below before /readyz is read
        await app.db.execute("INSERT INTO inbox (event_id, event_type, body) VALUES ('Ev0WAIT', 'message', '{}')")
        status, body = await get(app, "/readyz")
    problems = json.loads(body)["problems"]
    assert status == 503 and set(problems) == {"slack", "inbox"}
    assert problems["slack"] == "auth.test: token_revoked" and problems["inbox"].startswith("1 events waiting")


async def test_metrics_count_events_answers_votes_and_slack_retries(app: Harness, slack: FakeSlack) -> None:
    event = mention(slack, "what is up?")
    assert await app.event(event) == 200
    await app.settle()
    answer_ts = slack.thread("C0GENERAL", event["ts"])[1]["ts"]
    assert await app.event(reaction("reaction_added", user=ALICE, ts=answer_ts)) == 200
    await app.settle()
    root = slack.add_message("C0GENERAL", ALICE, "Who has the keys?")
    reply = slack.add_message("C0GENERAL", BOB, "Ops does.", thread_ts=root)
    slack.fail("conversations.replies", status=503)  # retried by the Slack client
    assert await app.event(reaction("reaction_added", user=ALICE, ts=reply, item_user=BOB)) == 200
    await app.settle()
    status, text = await get(app, "/metrics")
    values = samples(text)
    assert status == 200
    assert values[("tuneloop_events_acknowledged_total", ())] == 3
    assert values[("tuneloop_events_processed_total", ())] == 3
    assert values[("tuneloop_answers", (("status", "answered"),))] == 1
    assert values[("tuneloop_answer_latency_seconds_count", ())] == 1
    assert values[("tuneloop_votes", (("direction", "up"),))] == 2
    assert values[("tuneloop_slack_retries_total", (("reason", "server_error"),))] == 1
    assert values[("tuneloop_inbox_backlog", ())] == 0
    assert values[("tuneloop_leader", ())] == 1  # the only process leads (on either database)
    (info,) = [labels for name, labels in values if name == "tuneloop_replica_info"]
    assert dict(info)["name"] == app.runtime.replica.name and dict(info)["database"] == app.db.dialect


async def test_metrics_count_the_model_providers_retries(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    oai.fail("POST /v1/chat/completions", status=429, retry_after=0)  # the SDK retries it by itself
    event = mention(slack, "what is up?")
    assert await app.event(event) == 200
    await app.settle()
    status, text = await get(app, "/metrics")
    values = samples(text)
    assert status == 200 and oai.pending_faults == 0
    assert values[("tuneloop_answers", (("status", "answered"),))] == 1
    assert values[("tuneloop_provider_retries_total", (("provider", "openai"), ("reason", "rate_limited")))] == 1


async def test_metrics_count_only_the_retries_made_and_then_the_model_error(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.fail("POST /v1/chat/completions", status=503, times=3)  # the tests' client retries twice, then gives up
    assert await app.event(mention(slack, "what is up?")) == 200
    await app.settle()
    values = samples((await get(app, "/metrics"))[1])
    assert oai.pending_faults == 0
    assert values[("tuneloop_provider_retries_total", (("provider", "openai"), ("reason", "server_error")))] == 2
    assert values[("tuneloop_model_errors", (("provider", "openai"),))] == 1


async def test_socket_mode_serves_health_on_a_side_port(app: Harness) -> None:
    async with side_server(app.runtime, "127.0.0.1", 0) as port, aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200 and "tuneloop_inbox_backlog" in await response.text()


async def test_json_logs_are_one_object_per_line(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> None:
    server = Serve(tmp_path, slack, oai)
    try:
        await server.start("--http", "--port", str(server.port), "--log-format", "json")
        await server.wait_listening()
        assert await server.stop() == 0
    finally:
        server.kill()
    lines = [json.loads(line) for line in server.output().splitlines()]
    assert lines and all(set(line) >= {"time", "level", "logger", "message"} for line in lines)
    assert any(line["message"] == "stopped cleanly" for line in lines)
