"""The canary: a share of new threads answered by a candidate, judged by the team's votes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from tests.capture_helpers import answered_question, vote
from tests.conftest import (
    ADMIN,
    ALICE,
    BOB,
    BOT,
    BOTH_DATABASES,
    GENERAL,
    Harness,
    database_settings,
    make_settings,
    served,
)
from tests.lifecycle_helpers import (
    CURRENT,
    JUDGE,
    TUNED,
    announcements,
    dataset,
    run,
    scripted,
)
from tests.waiting import eventually
from tuning.release.evaluation.metrics import wilson_interval
from tuning.release.lifecycle.canary import in_canary

pytestmark = BOTH_DATABASES


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, database: str) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path,
        slack,
        oai,
        **database_settings(database, tmp_path),
        TUNELOOP_ANNOUNCE_CHANNEL=GENERAL,
        TUNELOOP_JUDGE_MODEL=JUDGE,
    )
    async with served(settings, slack) as harness:
        # Today's lifecycle run is over: a canary started before it would get today's card as well (a race
        # that showed as a third card in the once-a-day test on a loaded machine).
        await eventually(lambda: harness.runtime.watch.last_run is not None, what="today's lifecycle run")
        oai.add_model(TUNED)
        yield harness


async def model_of(app: Harness, answer_ts: str) -> str:
    return await app.db.fetchval(
        "SELECT a.model FROM answers a JOIN messages m ON m.answer_id = a.id WHERE m.channel = ? AND m.ts = ?",
        (GENERAL, answer_ts),
    )


@pytest.mark.parametrize("share", [0.2, 0.5])
def test_assignment_is_stable_and_holds_the_share_over_many_threads(share: float) -> None:
    threads = [(f"C{n % 7}", f"{1_760_000_000 + n * 37}.{n:06d}") for n in range(10_000)]
    picked = [in_canary(channel, ts, share) for channel, ts in threads]
    assert picked == [in_canary(channel, ts, share) for channel, ts in threads]
    assert abs(sum(picked) / len(picked) - share) < 0.02


async def test_a_canary_splits_new_threads_and_a_conversation_keeps_its_model(app: Harness, slack: FakeSlack) -> None:
    await run(app, f"canary {TUNED} share:50%")
    # Any post, not the newest: the lifecycle watch's first daily check may run after the command (it starts
    # once this replica leads) and post the day's canary card on top.
    assert any(f"`{TUNED}` answers 50% of new threads" in text for text in announcements(slack))
    answers = [await answered_question(app, slack, f"question {n}?") for n in range(24)]
    models = [await model_of(app, ts) for ts in answers]
    roots = [slack.message(GENERAL, ts)["thread_ts"] for ts in answers]  # the fake's clock picks them: compute
    assert models == [TUNED if in_canary(GENERAL, root, 0.5) else CURRENT for root in roots]
    for answer_ts, model in list(zip(answers, models, strict=True))[:6]:
        root = slack.message(GENERAL, answer_ts)["thread_ts"]
        slack.add_message(GENERAL, ALICE, f"<@{BOT}> and then?", thread_ts=root)
        reply = slack.thread(GENERAL, root)[-1]
        await app.event(
            {
                "type": "app_mention",
                "user": ALICE,
                "text": f"<@{BOT}> and then?",
                "ts": reply["ts"],
                "thread_ts": root,
                "channel": GENERAL,
            }
        )
        await app.settle()
        follow_up = await app.db.fetchval("SELECT model FROM answers WHERE question_ts = ?", (reply["ts"],))
        assert follow_up == model


async def test_per_model_counts_rate_interval_latency_and_cost(app: Harness, slack: FakeSlack) -> None:
    await run(app, f"canary {TUNED} share:50%")
    by_model: dict[str, list[str]] = {CURRENT: [], TUNED: []}
    # Threads are assigned by a hash of their ts, which the fake Slack takes from the clock: ask until both
    # models have enough answers (at 50 %, 60 questions fall short about once in 10^13 runs; 12 did in 7 %).
    for n in range(60):
        if len(by_model[TUNED]) >= 4 and len(by_model[CURRENT]) >= 1:
            break
        ts = await answered_question(app, slack, f"question {n}?")
        by_model[await model_of(app, ts)].append(ts)
    for ts in by_model[TUNED][:3]:
        await vote(app, user=BOB, ts=ts, reaction_name="+1")
    await vote(app, user=BOB, ts=by_model[TUNED][3], reaction_name="-1")
    await vote(app, user=BOB, ts=by_model[CURRENT][0], reaction_name="-1")
    example = await app.db.fetchval("SELECT id FROM examples WHERE answer_id IS NOT NULL LIMIT 1")
    await app.db.execute(
        "INSERT INTO corrections (example_id, corrector, text) VALUES (?, ?, 'better')", (example, ALICE)
    )
    report = await app.runtime.services.lifecycle.canary.report()
    assert report is not None
    candidate, current = report.candidate, report.current
    assert (candidate.model, candidate.answers, candidate.up, candidate.down) == (TUNED, len(by_model[TUNED]), 3, 1)
    assert (current.model, current.answers, current.up, current.down) == (CURRENT, len(by_model[CURRENT]), 0, 1)
    assert candidate.corrections + current.corrections == 1
    assert candidate.up_rate == 0.75 and (candidate.up_low, candidate.up_high) == wilson_interval(3, 4)
    assert current.up_rate == 0.0 and candidate.latency_p50_ms is not None and candidate.latency_p95_ms is not None
    assert candidate.cost_per_1k_usd is not None and candidate.cost_per_1k_usd > 0

    shown = await run(app, "canary", user=ALICE)
    assert "👍-rate 75% (95% CI" in shown and "👍-rate 0% (95% CI" in shown and "per 1,000 answers" in shown
    await app.event({"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "home"})
    await app.settle()
    assert "Canary" in str(slack.home_tabs[ALICE]) and TUNED in str(slack.home_tabs[ALICE])


async def test_the_daily_card_is_posted_once_a_day(app: Harness, slack: FakeSlack) -> None:
    await run(app, f"canary {TUNED} share:20%")
    lifecycle = app.runtime.services.lifecycle
    for day in (date(2026, 12, 10), date(2026, 12, 10), date(2026, 12, 11)):
        await lifecycle.daily(day)
    cards = [m for m in slack.history(GENERAL) if m["user"] == "U0BOT" and "Canary" in str(m.get("blocks"))]
    assert len(cards) == 2


async def test_canary_promote_goes_through_the_gate_and_stop_ends_it(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    ref = await dataset(app)
    await run(app, f"canary {TUNED} share:20%")
    assert "no evaluation" in await run(app, "canary promote")
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 0
    oai.reply_with(scripted({}))
    await run(app, f"eval {TUNED} against:{CURRENT} dataset:{ref}")
    await run(app, "canary promote")
    assert await app.runtime.services.current_model() == TUNED
    assert await app.db.fetchval("SELECT outcome FROM canaries") == "promoted"
    assert "No canary is running" in await run(app, "canary")
    await run(app, "canary gpt-4o-mini share:30%")
    await run(app, "canary stop")
    assert await app.db.fetchval("SELECT outcome FROM canaries ORDER BY id DESC LIMIT 1") == "stopped"
    assert {await model_of(app, await answered_question(app, slack, f"q{n}?")) for n in range(5)} == {TUNED}


async def test_bad_canary_commands_say_why_and_change_nothing(app: Harness) -> None:
    assert "already answers every thread" in await run(app, f"canary {CURRENT}")
    assert "No canary is running" in await run(app, "canary stop")
    _, refused = await app.command(f"canary {TUNED} share:150%", user=ADMIN)
    assert "from 1% to 99%" in refused["text"]
    assert "did not answer a test request" in await run(app, "canary ft:gpt-4.1-mini-2025-04-14:acme:gone:1")
    await run(app, f"canary {TUNED}")
    assert "running already" in await run(app, "canary gpt-4o-mini")
    assert await app.db.fetchval("SELECT count(*) FROM canaries") == 1
    assert await app.db.fetchval("SELECT share FROM canaries") == 0.2


async def test_a_canary_the_provider_no_longer_serves_stops_and_its_threads_go_to_the_current_model(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await run(app, f"canary {TUNED} share:99%")
    oai.retire_model(TUNED)
    models = {await model_of(app, await answered_question(app, slack, f"q{n}?")) for n in range(3)}
    assert models == {CURRENT}
    assert await app.db.fetchval("SELECT outcome FROM canaries") == "stopped"
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 0
