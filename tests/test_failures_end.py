"""A replayed event that fails for a reason that will not change is closed with that reason after its first
try, and the person is told once; a transient failure is tried again, with back-off, while the app runs."""

from __future__ import annotations

import asyncio

import pytest

from bot import worker
from bot.fakes import FakeSlack
from tests.capture_helpers import reaction
from tests.conftest import ALICE, BOB, GENERAL, Harness
from tests.waiting import eventually


async def inbox(app: Harness) -> list[tuple]:
    return [tuple(row) for row in await app.db.fetchall("SELECT attempts, processed_at IS NOT NULL, error FROM inbox")]


def told(slack: FakeSlack) -> list[str]:
    return [e["text"] for e in slack.ephemerals if e["user"] == ALICE]


def teammate_reply(slack: FakeSlack) -> str:
    root = slack.add_message(GENERAL, ALICE, "How do I rotate the keys?")
    return slack.add_message(GENERAL, BOB, "Run the rotate command.", thread_ts=root)


async def thumbs_up(app: Harness, slack: FakeSlack) -> str:
    ts = teammate_reply(slack)
    assert await app.event(reaction("reaction_added", user=ALICE, ts=ts, item_user=BOB)) == 200
    return ts


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "RETRY_BASE_SECONDS", 0.05)


@pytest.mark.parametrize("code", ["not_in_channel", "channel_not_found"])
async def test_a_vote_where_tuneloop_is_not_a_member_is_closed_after_one_try_and_told_once(
    app: Harness, slack: FakeSlack, quick_retries: None, code: str
) -> None:
    slack.fail("conversations.replies", error=code, times=5)
    await thumbs_up(app, slack)
    await app.settle()
    why = "NotInChannel: Tuneloop can't read <#C0GENERAL>: it is not a member. Invite it with `/invite @tuneloop`"
    assert await inbox(app) == [(1, 1, why + " and try again.")]
    assert len(slack.calls_to("conversations.replies")) == 1
    assert len(told(slack)) == 1 and "not a member" in told(slack)[0]


async def test_a_slack_error_that_will_not_change_is_closed_with_its_code(
    app: Harness, slack: FakeSlack, quick_retries: None
) -> None:
    slack.fail("conversations.replies", error="is_archived", times=5)
    await thumbs_up(app, slack)
    await app.settle()
    assert await inbox(app) == [(1, 1, "slack: is_archived")]
    assert len(told(slack)) == 1


async def test_a_transient_failure_is_retried_while_running_and_nobody_is_told(
    app: Harness, slack: FakeSlack, quick_retries: None
) -> None:
    slack.fail("conversations.replies", error="internal_error", times=1)  # ok:false: the client does not retry it
    ts = await thumbs_up(app, slack)
    await app.settle()
    assert await inbox(app) == [(2, 1, None)]
    assert await app.db.fetchval("SELECT up_votes FROM examples WHERE message_ts = ?", (ts,)) == 1
    assert told(slack) == []


async def test_a_failure_that_lasts_gives_up_after_its_tries_and_tells_once(
    app: Harness, slack: FakeSlack, quick_retries: None
) -> None:
    slack.fail("conversations.replies", error="internal_error", times=10)
    await thumbs_up(app, slack)
    await app.settle()
    assert await inbox(app) == [(3, 1, "gave up after 3 attempts: slack: internal_error")]
    await eventually(lambda: len(told(slack)) == 1)
    assert "Something went wrong" in told(slack)[0]


async def test_a_pending_retry_does_not_hold_up_shutdown(
    app: Harness, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "RETRY_BASE_SECONDS", 3600)
    slack.fail("conversations.replies", error="internal_error", times=1)
    await thumbs_up(app, slack)
    await eventually(lambda: app.runtime.worker.retries_waiting == 1)
    await asyncio.wait_for(app.runtime.worker.stop(timeout=5), 10)
    assert await inbox(app) == [(1, 0, None)]  # still pending: the next start replays it
