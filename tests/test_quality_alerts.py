"""Quality alerts: a 👍-rate that falls beyond noise, or answers failing too often, is told once a day in the
announcement channel; `/tune alerts` shows the state; ordinary noise raises nothing."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from bot.settings import Settings
from tests.conftest import ADMIN, GENERAL, Harness, make_settings

ANNOUNCE = GENERAL


@pytest.fixture
def settings(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> Settings:
    return make_settings(tmp_path, slack, oai, TUNELOOP_ANNOUNCE_CHANNEL=ANNOUNCE)


async def seed(app: Harness, goods: list[bool], *, failed: int = 0, model: str = "gpt-4.1-mini") -> None:
    """Answers, oldest first: each rated by one 👍 (good) or one 👎; then `failed` failed answers."""
    start = await app.db.fetchval("SELECT count(*) FROM answers")
    rows, votes = [], []
    for i, good in enumerate([*goods, *([None] * failed)], start=start):
        ts = f"1700{i:06d}.000100"
        rows.append(
            (
                GENERAL,
                ts,
                ts,
                "U0ASKER",
                None if good is None else f"1700{i:06d}.000200",
                model,
                "failed" if good is None else "answered",
            )
        )
        if good is not None:
            votes.append(
                (
                    GENERAL,
                    f"1700{i:06d}.000200",
                    "U0VOTER",
                    "+1" if good else "-1",
                    1 if good else -1,
                    f"1800{i:06d}.000100",
                )
            )
    await app.db.executemany(
        "INSERT INTO answers (channel, thread_ts, question_ts, asked_by, answer_ts, model, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    await app.db.executemany(
        "INSERT INTO reaction_events (channel, ts, voter, reaction, direction, added, event_ts)"
        " VALUES (?, ?, ?, ?, ?, 1, ?)",
        votes,
    )


def posted_alerts(slack: FakeSlack) -> list[str]:
    return [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.args["channel"] == ANNOUNCE and "Answer" in c.args.get("text", "")
    ]


async def test_a_falling_thumbs_up_rate_raises_one_alert_with_numbers_and_links(app: Harness, slack: FakeSlack) -> None:
    await seed(app, [i % 20 != 0 for i in range(200)] + [i % 5 < 2 for i in range(50)])  # 95% then 40%
    quality = app.runtime.services.quality
    assert await quality.check(date(2026, 12, 5)) == ["rating"]
    assert await quality.check(date(2026, 12, 5)) == []  # once a day per cause
    (text,) = posted_alerts(slack)
    assert "Answer quality dropped" in text and "40% (20/50" in text and "95% (190/200" in text
    assert "https://slack.com/archives/C" in text
    assert await quality.check(date(2026, 12, 6)) == ["rating"]  # the next day, still dropped: told again
    status, _ = await app.command("alerts", user=ADMIN)
    await app.settle()
    shown = slack.responses[-1]["text"]
    assert status == 200 and "👍-rate *dropped*" in shown and "last alerts sent: rating" in shown


async def test_ordinary_noise_raises_no_alert(app: Harness, slack: FakeSlack) -> None:
    quality = app.runtime.services.quality
    for seed_value in range(5):
        await app.db.execute("DELETE FROM reaction_events")
        await app.db.execute("DELETE FROM answers")
        rng = random.Random(seed_value)
        await seed(app, [rng.random() < 0.8 for _ in range(250)], failed=1)  # 80% 👍 throughout; 1 failure in 50
        state = await quality.state()
        assert state.recent is not None and state.earlier is not None and not state.rating_dropped
        assert await quality.check(date(2026, 12, 5)) == []
    assert posted_alerts(slack) == []


async def test_too_few_ratings_compare_nothing(app: Harness, slack: FakeSlack) -> None:
    quality = app.runtime.services.quality
    await seed(app, [False] * 19)  # all bad, but 19 rated answers say nothing yet
    assert (await quality.state()).recent is None and await quality.check() == []
    await app.command("alerts", user=ADMIN)
    await app.settle()
    assert "not compared yet (19 rated answers" in slack.responses[-1]["text"]


async def test_failures_above_the_rate_raise_an_alert_and_below_it_none(app: Harness, slack: FakeSlack) -> None:
    quality = app.runtime.services.quality
    await seed(app, [True] * 48, failed=2)  # 4% of the last 50
    assert await quality.check(date(2026, 12, 5)) == []
    await seed(app, [], failed=1)  # 3 of the last 50: 6%
    assert await quality.check(date(2026, 12, 5)) == ["failures"]
    (text,) = posted_alerts(slack)
    assert "Answers are failing" in text and "3 of the last 50 answers failed (6%" in text
