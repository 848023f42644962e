"""Never dark: a model the provider no longer serves is replaced by the one before it, announced once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from providers import ChatClient
from tests.capture_helpers import answered_question
from tests.conftest import GENERAL, Harness, make_settings, served
from tests.lifecycle_helpers import CURRENT, TUNED, announcements, run
from tuning.errors import ModelError, ModelGone

OLDER = "ft:gpt-4.1-mini-2025-04-14:acme:support:older111"


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, slack, oai, TUNELOOP_ANNOUNCE_CHANNEL=GENERAL)
    async with served(settings, slack) as harness:
        oai.add_model(TUNED)
        await run(harness, f"promote {TUNED} force:yes")
        yield harness


def answer_text(slack: FakeSlack, answer_ts: str) -> str:
    return slack.message(GENERAL, answer_ts)["text"]


async def last_answer(app: Harness) -> dict:
    return dict(await app.db.fetchone("SELECT model, status, error FROM answers ORDER BY id DESC LIMIT 1"))


async def test_a_retired_model_is_replaced_by_the_base_model_and_announced_once(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.retire_model(TUNED)
    ts = await answered_question(app, slack, "still there?")
    assert (await last_answer(app))["model"] == CURRENT and (await last_answer(app))["status"] == "answered"
    assert ":warning:" not in answer_text(slack, ts)
    assert [c.args["model"] for c in oai.calls_to("POST /v1/chat/completions")][-2:] == [TUNED, CURRENT]
    change = await app.db.fetchone("SELECT * FROM model_changes ORDER BY id DESC LIMIT 1")
    assert (change["action"], change["model"]) == ("fallback", CURRENT)
    assert "404" in change["reason"] and "model_not_found" in change["reason"]
    notices = [text for text in announcements(slack) if "no longer answers" in text]
    assert len(notices) == 1 and TUNED in notices[0] and CURRENT in notices[0]

    await answered_question(app, slack, "and again?")
    assert (await last_answer(app))["model"] == CURRENT
    assert len([text for text in announcements(slack) if "no longer answers" in text]) == 1
    status = await run(app, "model")
    assert f"Tuneloop answers with `{CURRENT}`" in status and "Fell back" in status and "model_not_found" in status


async def older_then_tuned(app: Harness, oai: FakeOpenAI) -> None:
    """History: OLDER promoted, then TUNED on top of it; then TUNED is shut down."""
    oai.add_model(OLDER)
    await run(app, "rollback")
    await run(app, f"promote {OLDER} force:yes")
    await run(app, f"promote {TUNED} force:yes")
    oai.retire_model(TUNED)


async def test_the_previous_promoted_model_is_preferred_to_the_base(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await older_then_tuned(app, oai)
    await answered_question(app, slack, "who now?")
    assert (await last_answer(app))["model"] == OLDER


async def test_when_the_previous_model_is_gone_too_the_base_answers(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await older_then_tuned(app, oai)
    oai.retire_model(OLDER)
    await answered_question(app, slack, "anyone?")
    assert (await last_answer(app))["model"] == CURRENT
    actions = [row["action"] for row in await app.db.fetchall("SELECT action FROM model_changes ORDER BY id")]
    assert actions[-2:] == ["fallback", "fallback"]


async def test_a_503_keeps_the_warning_and_changes_nothing(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    oai.fail("POST /v1/chat/completions", status=503, times=3)  # the client's first try and both retries
    ts = await answered_question(app, slack, "down?")
    assert ":warning:" in answer_text(slack, ts)
    assert (await last_answer(app))["status"] == "failed" and (await last_answer(app))["model"] == TUNED
    assert await app.db.fetchval("SELECT count(*) FROM model_changes WHERE action = 'fallback'") == 0
    assert not [text for text in announcements(slack) if "no longer answers" in text]
    await answered_question(app, slack, "back?")
    assert (await last_answer(app))["model"] == TUNED and (await last_answer(app))["status"] == "answered"


@pytest.mark.parametrize(
    ("status", "code", "gone"),
    [
        (404, "model_not_found", True),
        (404, None, True),
        (400, "model_not_found", True),
        (503, None, False),
        (429, "rate_limit_exceeded", False),
        (500, None, False),
        (401, "invalid_api_key", False),
    ],
)
async def test_only_a_missing_model_counts_as_gone(oai: FakeOpenAI, status: int, code: str | None, gone: bool) -> None:
    """Through the real SDK against the fake's error bodies: only "this model does not exist" is gone."""
    client = openai.AsyncOpenAI(api_key="sk-test-key-0000", base_url=oai.base_url, max_retries=0)
    oai.fail("POST /v1/chat/completions", status=status, error=code)
    with pytest.raises(ModelError) as raised:
        await ChatClient(client).complete(CURRENT, [{"role": "user", "content": "hi"}])
    await client.close()
    assert isinstance(raised.value, ModelGone) is gone


async def test_a_timeout_is_not_gone(oai: FakeOpenAI) -> None:
    client = openai.AsyncOpenAI(api_key="sk-test-key-0000", base_url=oai.base_url, max_retries=0, timeout=0.2)
    oai.fail("POST /v1/chat/completions", delay=1.0)
    with pytest.raises(ModelError) as raised:
        await ChatClient(client).complete(CURRENT, [{"role": "user", "content": "hi"}])
    await client.close()
    assert not isinstance(raised.value, ModelGone)
