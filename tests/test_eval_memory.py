"""`/tune eval … memory:on|off`: the models get the memories people would get, none from the validation split's
threads (excluded by thread, so a sibling example of the same conversation cannot leak the reference)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from tests.conftest import ADMIN, GENERAL, Harness, make_settings, served
from tests.dataset_helpers import add_example
from tuning.release.evaluation.results import EvalSummary, ModelMetrics
from tuning.release.gate import memory_mode
from tuning.training.datasets.specs import BuildRequest


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    async with served(make_settings(tmp_path, slack, oai), slack) as harness:
        yield harness


async def team_with_siblings(app: Harness) -> str:
    """20 threads, each with an answered question and a follow-up answered the same way; all of them memories."""
    await app.runtime.services.memory.switch(ADMIN, True, None)
    await app.db.execute("INSERT INTO memory_channels (channel, kind) VALUES (?, 'public')", (GENERAL,))
    for i in range(20):
        thread = f"17000000{i:02d}.000100"
        await add_example(
            app.db,
            question=f"Which port does service {i} use?",
            answer=f"Service {i} uses port 80{i:02d}.",
            channel=GENERAL,
            thread_ts=thread,
            up=3,
        )
        await add_example(
            app.db,
            question=f"And the port of service {i} in staging?",
            answer=f"Service {i} uses port 80{i:02d}.",
            channel=GENERAL,
            thread_ts=thread,
            up=3,
        )
    await app.runtime.services.memory.configure(min_votes=2)  # indexes what was inserted behind its back
    assert await app.db.fetchval("SELECT count(*) FROM memory_items") == 40
    return (await app.runtime.services.datasets.build(BuildRequest(name="ports", val=0.3))).ref


async def evaluate(app: Harness, oai: FakeOpenAI, text: str) -> list[list[dict]]:
    before = len(oai.calls_to("POST /v1/chat/completions"))
    status, body = await app.command(text, user=ADMIN)
    assert status == 200 and body == {}
    await app.settle(timeout=30)
    calls = oai.calls_to("POST /v1/chat/completions")[before:]
    return [call.args["messages"] for call in calls if call.args["messages"][0]["role"] == "system"]  # not the ping


async def test_memory_on_gives_each_item_memories_but_none_from_any_validation_thread(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    ref = await team_with_siblings(app)
    requests = await evaluate(app, oai, f"eval base memory:on dataset:{ref}")
    validation = await app.db.fetchall(
        "SELECT e.thread_ts FROM dataset_members m JOIN examples e ON e.id = m.example_id WHERE m.split = 'validation'"
    )
    assert len(requests) == len(validation) >= 3
    excluded = {row[0] for row in validation}
    leaked, with_memory = [], 0
    for messages in requests:
        system = messages[0]["content"]
        with_memory += "<team_answers>" in system
        for i in range(20):
            if f"17000000{i:02d}.000100" in excluded and f"port 80{i:02d}." in system:
                leaked.append(i)
    assert leaked == [] and with_memory == len(requests)
    card = next(m for m in slack.history(GENERAL) if "Evaluation results" in str(m.get("blocks")))
    assert "with team memory (validation threads excluded)" in str(card["blocks"])
    summary = EvalSummary.model_validate_json(await app.db.fetchval("SELECT summary FROM evaluations"))
    assert summary.memory is True and "with team memory on" in memory_mode(summary)


async def test_memory_off_gives_none_and_the_default_follows_the_workspace_switch(
    app: Harness, oai: FakeOpenAI
) -> None:
    ref = await team_with_siblings(app)
    assert all(
        "<team_answers>" not in m[0]["content"] for m in await evaluate(app, oai, f"eval base memory:off dataset:{ref}")
    )
    assert any("<team_answers>" in m[0]["content"] for m in await evaluate(app, oai, f"eval base dataset:{ref}"))
    await app.command("memory off", user=ADMIN)
    await app.settle()
    assert all("<team_answers>" not in m[0]["content"] for m in await evaluate(app, oai, f"eval base dataset:{ref}"))
    modes = [
        EvalSummary.model_validate_json(row[0]).memory
        for row in await app.db.fetchall("SELECT summary FROM evaluations ORDER BY id")
    ]
    assert modes == [False, True, False]


def test_the_gate_says_which_mode_its_evidence_used() -> None:
    metrics = ModelMetrics(model="a", answered=1)
    summary = EvalSummary(candidate_model="a", items=1, candidate=metrics)
    assert memory_mode(summary) == ""
    assert memory_mode(summary.model_copy(update={"memory": False})) == " with team memory off"
