"""The per-workspace budget of stream calls: a burst of questions meets no 429, and Slack never holds up the
model (handlers/stream_budget.py, handlers/answer_writer.py)."""

from __future__ import annotations

import asyncio

from slack_sdk.web.async_client import AsyncWebClient

from bot.fakes import FakeOpenAI, FakeSlack
from handlers.answer_writer import AnswerClient, AnswerWriter
from handlers.stream_budget import LocalStreamBudget
from render.answers import THINKING
from tests.conftest import ALICE, BOT, GENERAL, Harness
from tuning.values import AnswerClaim, SlackMessage


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_starts_are_budgeted_per_workspace_and_appends_shared_by_the_open_streams() -> None:
    clock = Clock()
    budget = LocalStreamBudget(clock=clock)
    starts = [await budget.try_start("T1") for _ in range(20)]
    assert starts == [True] * 18 + [False] * 2  # Tier 2 with a tenth kept back
    assert await budget.try_start("T2")  # another workspace has its own
    assert budget.append_every("T1") == 18 * 60 / 90  # 18 streams share 90 appends a minute
    for _ in range(17):
        budget.ended("T1")
    assert budget.append_every("T1") == 1.0  # one stream alone: one append a second
    clock.now = 60 / 18  # a start comes back every 60 / 18 s
    assert await budget.try_start("T1") and not await budget.try_start("T1")


async def test_thirty_questions_at_once_are_each_answered_once_without_a_429(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    text = " ".join(f"word{i}" for i in range(40))
    oai.reply_with(text)
    oai.token_seconds = 0.01
    events = []
    for n in range(30):
        ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> question {n}?")
        events.append(
            {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> question {n}?", "ts": ts, "channel": GENERAL}
        )
    await asyncio.gather(*(app.event(event) for event in events))
    await app.settle(timeout=60)
    for event in events:
        (reply,) = slack.thread(GENERAL, event["ts"])[1:]
        assert reply["text"] == text
    assert slack.rate_tiers.limited == {} and slack.still_streaming() == []
    started = len(slack.calls_to("chat.startStream"))
    assert 18 <= started < 30  # the budget's starts, then placeholder-and-edit
    assert [c.args["text"] for c in slack.calls_to("chat.postMessage")] == [THINKING] * (30 - started)
    assert len(slack.calls_to("chat.stopStream")) == started
    assert await app.db.fetchval("SELECT count(*) FROM answers WHERE status = 'answered'") == 30


async def test_a_slow_slack_never_holds_up_reading_the_model(slack: FakeSlack) -> None:
    """chat.startStream is held (as a 429's wait would hold it): the model's text is taken all the same."""
    root = slack.add_message(GENERAL, ALICE, "question?")
    message = SlackMessage(team_id="T0001", channel=GENERAL, ts=root, user=ALICE, text="question?")
    claim = AnswerClaim(answer_id=1, message=message, model="m")
    web = AsyncWebClient(token="xoxb-test-token", base_url=slack.api_url)
    first: list[str] = []

    async def on_first(ts: str) -> None:
        first.append(ts)

    writer = AnswerWriter(AnswerClient(web, "T0001", ALICE), claim, stream=True, on_first_message=on_first)
    slack.fail("chat.startStream", delay=3.0)
    await writer.start()
    await writer.on_text("The first words")
    await asyncio.sleep(0.1)  # the pump has made its call, which Slack holds
    for n in range(200):
        await writer.on_text(f" and {n}")  # never waits on Slack
    assert len(slack.calls_to("chat.startStream")) == 1 and first == []  # all taken while the start is held
    posted = await writer.finish("The first words" + "".join(f" and {n}" for n in range(200)))
    writer.close()
    assert first == posted and slack.still_streaming() == []
    assert slack.message(GENERAL, posted[0])["text"].endswith("and 199")
