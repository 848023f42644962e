"""`/tune harvest`: backfill from history, exactly the examples live capture would have made, once."""

from __future__ import annotations

import pytest

from bot.fakes import FakeSlack
from handlers import slack_reader
from tests.capture_helpers import example
from tests.conftest import ADMIN, ALICE, BOB, BOT, GENERAL, Harness


def seed(slack: FakeSlack) -> dict[str, str]:
    q1 = slack.add_message(GENERAL, ALICE, "Where are the runbooks?")
    good = slack.add_message(GENERAL, BOB, "In the wiki under Ops.", thread_ts=q1, reactions={"+1": [ALICE, ADMIN]})
    q2 = slack.add_message(GENERAL, ALICE, f"<@{BOT}> what's our SLA?")
    bot = slack.add_message(GENERAL, BOT, "99.9% monthly.", thread_ts=q2, bot_id="B0BOT", reactions={"thumbsup": [BOB]})
    q3 = slack.add_message(GENERAL, BOB, "Anyone?", reactions={"+1": [ALICE]})  # a 👍 on a root: nothing
    own = slack.add_message(GENERAL, ALICE, "I'll do it myself.", thread_ts=q3, reactions={"+1": [ALICE]})
    for i in range(5):  # threads without votes, to make the walk span several pages
        root = slack.add_message(GENERAL, ALICE, f"chatter {i}")
        slack.add_message(GENERAL, BOB, f"reply {i}", thread_ts=root)
    return {"good": good, "bot": bot, "own": own, "root": q3}


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_reader, "PAGE", 2)


async def harvest(app: Harness, text: str = "harvest <#C0GENERAL|general> days:7") -> str:
    status, body = await app.command(text, user=ADMIN)
    assert status == 200 and body == {}
    await app.settle()
    return app.slack.calls_to("chat.update")[-1].args["text"]


async def test_harvest_creates_what_live_capture_would(app: Harness, slack: FakeSlack) -> None:
    ts = seed(slack)
    summary = await harvest(app)
    teammate = await example(app, ts["good"])
    assert (teammate["source"], teammate["state"], teammate["up_votes"]) == ("teammate_answer", "approved", 2)
    assert teammate["conversation"][1:] == [{"role": "user", "content": "Where are the runbooks?"}]
    bot = await example(app, ts["bot"])
    assert (bot["source"], bot["up_votes"]) == ("bot_answer", 1)
    assert bot["conversation"][1:] == [{"role": "user", "content": "what's our SLA?"}]
    assert await example(app, ts["own"]) is None and await example(app, ts["root"]) is None
    assert "2 examples added" in summary and "8 threads scanned" in summary
    assert "1 only the author's or the bot's own reaction" in summary
    assert len(slack.calls_to("conversations.history")) > 3  # paginated


async def test_harvesting_twice_adds_nothing(app: Harness, slack: FakeSlack) -> None:
    seed(slack)
    await harvest(app)
    before = [dict(r) for r in await app.db.fetchall("SELECT id, up_votes, state FROM examples ORDER BY id")]
    summary = await harvest(app)
    after = [dict(r) for r in await app.db.fetchall("SELECT id, up_votes, state FROM examples ORDER BY id")]
    assert after == before and "0 examples added" in summary and "2 already collected" in summary


async def test_harvest_after_live_votes_does_not_double_count(app: Harness, slack: FakeSlack) -> None:
    ts = seed(slack)
    await app.event(
        {
            "type": "reaction_added",
            "user": ALICE,
            "reaction": "+1",
            "item_user": BOB,
            "item": {"type": "message", "channel": GENERAL, "ts": ts["good"]},
        }
    )
    await app.settle()
    await harvest(app)
    assert (await example(app, ts["good"]))["up_votes"] == 2


async def test_a_channel_the_bot_is_not_in_gets_a_clear_message(app: Harness, slack: FakeSlack) -> None:
    slack.add_channel("C0SECRET", "secret", is_member=False)
    status, _ = await app.command("harvest <#C0SECRET|secret>", user=ADMIN)
    assert status == 200
    await app.settle()
    assert "not a member" in slack.responses[-1]["text"] and "/invite @tuneloop" in slack.responses[-1]["text"]
    assert await app.db.fetchval("SELECT count(*) FROM examples") == 0


async def test_harvest_usage_errors_are_immediate(app: Harness) -> None:
    status, body = await app.command("harvest general days:0", user=ADMIN)
    assert status == 200 and body["response_type"] == "ephemeral" and "Usage" in body["text"]
