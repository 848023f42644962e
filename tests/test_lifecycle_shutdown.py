"""The shutdown watch: 30, 7 and 1 days before, once each, with a moved clock; closed back-ends refuse jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether
from bot.lifecycle_watch import DailyWatch
from tests.conftest import ADMIN, BOTH_DATABASES, GENERAL, Harness, database_settings, make_settings, served
from tests.lifecycle_helpers import TUNED, announcements, dataset, run
from tests.waiting import eventually

pytestmark = BOTH_DATABASES

SHUTDOWN = date(2027, 1, 14)  # gpt-4.1-mini and its fine-tunes, in tuning/catalogue/models.toml


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, database: str) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path, slack, oai, **database_settings(database, tmp_path), TUNELOOP_ANNOUNCE_CHANNEL=GENERAL
    )
    async with served(settings, slack) as harness:
        await eventually(lambda: harness.runtime.watch.last_run is not None)  # today's run is done
        oai.add_model(TUNED)
        await run(harness, f"promote {TUNED} force:yes")
        yield harness


def warnings(slack: FakeSlack) -> list[str]:
    return [text for text in reversed(announcements(slack)) if "shuts down" in text]


async def days(app: Harness, first: date, last: date) -> None:
    day = first
    while day <= last:
        await app.runtime.services.lifecycle.daily(day)
        day += timedelta(days=1)


async def test_admins_are_warned_30_7_and_1_days_before_once_each(app: Harness, slack: FakeSlack) -> None:
    await days(app, date(2026, 12, 1), SHUTDOWN + timedelta(days=3))
    sent = warnings(slack)
    assert [text.split("shuts down ")[1].split(" (")[0] for text in sent] == ["in 30 days", "in 7 days", "in 1 day"]
    assert all(TUNED in text and f"<@{ADMIN}>" in text and "14 January 2027" in text for text in sent)
    await days(app, date(2026, 12, 1), SHUTDOWN)  # the same days again (a restart): nothing twice
    assert warnings(slack) == sent


async def test_a_watch_that_starts_late_sends_only_the_nearest_warning(app: Harness, slack: FakeSlack) -> None:
    await days(app, SHUTDOWN - timedelta(days=5), SHUTDOWN - timedelta(days=3))
    assert [text.split("shuts down ")[1].split(" (")[0] for text in warnings(slack)] == ["in 5 days"]


async def test_the_canary_and_its_base_are_watched_too(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    await run(app, "canary gpt-4o-mini share:10%")
    await app.runtime.services.lifecycle.daily(SHUTDOWN - timedelta(days=7))
    assert any("gpt-4o-mini" in text and "the canary" in text for text in warnings(slack))


async def test_the_providers_listing_is_used_when_it_announces_an_earlier_date(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.announce_shutdown(TUNED, "2026-12-20")
    await app.runtime.services.lifecycle.daily(date(2026, 12, 13))
    (warning,) = warnings(slack)
    assert "in 7 days" in warning and "20 December 2026" in warning and "model listing" in warning
    assert "shuts down on 20 December 2026" in await run(app, "model")


async def test_tune_model_shows_the_shutdown_date(app: Harness) -> None:
    status = await run(app, "model")
    assert f"`{TUNED}` (the answering model) shuts down on 14 January 2027 (from the model catalogue)" in status


async def test_the_daily_watch_runs_once_a_day_by_its_clock(app: Harness, slack: FakeSlack) -> None:
    today = [SHUTDOWN - timedelta(days=31)]
    watch = DailyWatch(app.runtime.services.lifecycle, today=lambda: today[0])
    await watch.run_once()
    assert warnings(slack) == [] and watch.last_run == today[0]
    today[0] += timedelta(days=1)
    await watch.run_once()
    assert len(warnings(slack)) == 1 and watch.last_run == today[0]


# -- back-ends that stopped taking jobs -----------------------------------------------------------


@pytest.fixture
async def closing(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether, database: str
) -> AsyncIterator[Harness]:
    (tmp_path / "models.toml").write_text("[backends.together]\ncloses_on = 2027-03-01\n")
    settings = make_settings(
        tmp_path, slack, oai, **database_settings(database, tmp_path), together=together, TUNELOOP_POLL_SECONDS="3600"
    )
    async with served(settings, slack) as harness:
        yield harness


async def test_a_back_end_past_its_closes_on_date_is_refused_before_any_cost(
    closing: Harness, slack: FakeSlack
) -> None:
    ref = await dataset(closing)
    jobs = closing.runtime.services.jobs
    jobs._today = lambda: date(2027, 3, 1)
    reply = await run(closing, f"train {ref} trainer:together")
    assert "stopped taking new fine-tuning jobs on 01 March 2027" in reply and "$" not in reply
    assert await closing.db.fetchval("SELECT count(*) FROM jobs") == 0
    jobs._today = lambda: date(2027, 2, 28)
    await run(closing, f"train {ref} trainer:together")
    assert await closing.db.fetchval("SELECT count(*) FROM jobs") == 1
