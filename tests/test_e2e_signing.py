"""Requests Slack did not sign, or signed too long ago, are refused and leave no trace."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import ALICE, BOT, GENERAL, SIGNING_SECRET, Harness
from tests.fakes import FakeOpenAI, FakeSlack


def envelope(slack: FakeSlack) -> str:
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> hi")
    event = {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> hi", "ts": ts, "channel": GENERAL}
    return json.dumps(slack.event_callback(event))


def bad_signature(body: str) -> dict[str, str]:
    return FakeSlack.sign(body, "not-the-secret")


def stale(body: str) -> dict[str, str]:
    return FakeSlack.sign(body, SIGNING_SECRET, timestamp=int(time.time()) - 6 * 60)


def missing(body: str) -> dict[str, str]:
    return {}


def altered_after_signing(body: str) -> dict[str, str]:
    return FakeSlack.sign(body.replace("hi", "ho"), SIGNING_SECRET)


@pytest.mark.parametrize("headers_for", [bad_signature, stale, missing, altered_after_signing])
async def test_unsigned_requests_get_401_and_change_nothing(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, headers_for
) -> None:
    body = envelope(slack)
    status, _ = await app.post(body, "application/json", headers_for(body), signed=False)
    assert status == 401
    await app.settle()
    assert await app.db.fetchval("SELECT count(*) FROM inbox") == 0
    assert await app.db.fetchval("SELECT count(*) FROM answers") == 0
    assert oai.calls == []
    assert slack.calls_to("chat.postMessage") == []


async def test_a_correctly_signed_request_is_accepted(app: Harness, slack: FakeSlack) -> None:
    body = envelope(slack)
    status, _ = await app.post(body, "application/json")
    assert status == 200
    await app.settle()
    assert await app.db.fetchval("SELECT count(*) FROM inbox") == 1
