"""Shared set-up for the lifecycle tests: an app with an announcement channel, a dataset, scripted models."""

from __future__ import annotations

import re
from typing import Any

from bot.fakes import FakeSlack
from tests.conftest import ADMIN, GENERAL, Harness
from tests.dataset_helpers import add_many
from tuning.training.datasets.specs import BuildRequest

CURRENT = "gpt-4.1-mini"
JUDGE = "gpt-4.1"
TUNED = "ft:gpt-4.1-mini-2025-04-14:acme:support:abc12345"


async def dataset(app: Harness, n: int = 20) -> str:
    await add_many(app.db, n, channel=GENERAL)
    return (await app.runtime.services.datasets.build(BuildRequest(name="support", val=0.3))).ref


async def run(app: Harness, text: str, user: str = ADMIN) -> str:
    """A `/tune` command; the text of the ephemeral reply it got (empty when it only posted)."""
    replies = len(app.slack.responses)
    status, body = await app.command(text, user=user)
    assert status == 200 and body == {}, body
    await app.settle(timeout=30)
    return app.slack.responses[-1]["text"] if len(app.slack.responses) > replies else ""


def announcements(slack: FakeSlack) -> list[str]:
    """What the bot posted at the top of #general, newest first."""
    return [m["text"] for m in slack.history(GENERAL) if m["user"] == "U0BOT"]


def scripted(answers: dict[str, str]) -> Any:
    """Each model answers `answers[model]` ("right": the reference, anything else verbatim); the judge
    prefers whichever answer is the reference."""

    def reply(request: dict[str, Any]) -> str:
        model, last = request["model"], request["messages"][-1]["content"]
        if model == JUDGE and "<answer_a>" in last:
            reference = re.search(r"<reference>\n(.*?)\n</reference>", last, re.DOTALL)[1]  # type: ignore[index]
            first = re.search(r"<answer_a>\n(.*?)\n</answer_a>", last, re.DOTALL)[1]  # type: ignore[index]
            second = re.search(r"<answer_b>\n(.*?)\n</answer_b>", last, re.DOTALL)[1]  # type: ignore[index]
            return "TIE" if (first == reference) == (second == reference) else ("A" if first == reference else "B")
        if answers.get(model, "right") == "right":
            return "Answer number " + last.split()[-1].rstrip("?") + "."
        return answers[model]

    return reply
