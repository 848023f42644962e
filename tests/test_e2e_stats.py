"""`/tune stats` and the App Home."""

from __future__ import annotations

from bot.fakes import FakeSlack
from tests.capture_helpers import answered_question, vote
from tests.conftest import ADMIN, ALICE, BOB, BOTH_DATABASES, Harness

pytestmark = BOTH_DATABASES


async def test_stats_by_state_source_channel_and_contributor(app: Harness, slack: FakeSlack) -> None:
    approved = await answered_question(app, slack, "one")
    await vote(app, user=BOB, ts=approved)
    pending = await answered_question(app, slack, "two")
    await vote(app, user=BOB, ts=pending, reaction_name="-1")
    await app.command("stats", user=ALICE)
    await app.settle()
    text = str(slack.responses[-1]["blocks"])
    assert "2 examples" in text
    assert "1 approved · 1 candidate · 0 rejected" in text
    assert "2 bot answer" in text and "<#C0GENERAL>" in text and f"<@{BOB}>: 1" in text


async def test_empty_stats_explain_how_to_start(app: Harness, slack: FakeSlack) -> None:
    await app.command("stats")
    await app.settle()
    assert "No examples yet" in slack.responses[-1]["text"]


async def test_home_tab_is_published_when_opened(app: Harness, slack: FakeSlack) -> None:
    approved = await answered_question(app, slack, "one")
    await vote(app, user=ADMIN, ts=approved)
    await app.event({"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "home"})
    await app.settle()
    home = str(slack.home_tabs[ALICE])
    assert "gpt-4.1-mini" in home and "1 approved" in home and "Recent activity" in home and "votes" in home
