"""Team memory's index behind the storage API, on SQLite (FTS5, BM25) and PostgreSQL (tsvector, ts_rank):
the same calls find the same memories, in the same order, and lose them with the example."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import memory as memory_rows
from storage.db import Database
from storage.memory import Scope
from tests.conftest import BOTH_DATABASES
from tests.dataset_helpers import add_example, new_db

pytestmark = BOTH_DATABASES
ADMIN = "U0ADMIN"


@pytest.fixture
async def db(tmp_path: Path, database: str) -> AsyncIterator[Database]:
    db = await new_db(tmp_path, database if database.startswith("postgresql://") else None)
    yield db
    await db.close()


async def remembered(db: Database, *, question: str, answer: str, channel: str = "C1") -> int:
    """An example an admin approved, synced into memory as the capture path does."""
    example_id = await add_example(db, question=question, answer=answer, channel=channel)
    async with db.transaction() as tx:
        await tx.execute("UPDATE examples SET decided_by = ? WHERE id = ?", (ADMIN, example_id))
        await memory_rows.sync(tx, [example_id])
    return example_id


async def test_search_ranks_question_matches_first_and_stems_words(db: Database) -> None:
    router = await remembered(db, question="How do I reboot the office router?", answer="Hold the pinhole button.")
    printer = await remembered(db, question="Where is the printer?", answer="Next to the router cupboard.")
    await remembered(db, question="When is lunch?", answer="At noon.")
    hits = await memory_rows.search(db, ["rebooting", "router"], Scope("C1", share=True), limit=5)
    assert [hit.example_id for hit in hits] == [router, printer]  # a stem of the question beats the answer alone
    assert hits[0].score > hits[1].score > 0
    assert hits[0].answer == "Hold the pinhole button." and hits[0].channel == "C1"
    assert await memory_rows.search(db, ["submarine"], Scope("C1", share=True), limit=5) == []
    assert await memory_rows.search(db, [], Scope("C1", share=True), limit=5) == []


async def test_a_term_in_many_memories_only_ranks_unless_every_term_is_that_common(db: Database, monkeypatch) -> None:
    monkeypatch.setattr(memory_rows, "COMMON", 2)  # "router" is in three memories: common
    routers = [await remembered(db, question=f"Router question {n}?", answer="Reboot it.") for n in range(3)]
    vpn = await remembered(db, question="Router VPN settings?", answer="See the wiki.")
    await remembered(db, question="VPN on the train?", answer="Use the hotspot.")
    await remembered(db, question="Where is the VPN page?", answer="On the wiki.")
    counts: dict[str, int] = {}
    hits = await memory_rows.search(db, ["router", "settings"], Scope("C1", share=True), limit=10, counts=counts)
    assert [hit.example_id for hit in hits] == [vpn]  # the rare term chooses; "router" alone does not bring the rest
    assert counts == {"router": 3, "settings": 1}  # counted through the engine's own index, capped at COMMON + 1
    both = await memory_rows.search(db, ["router", "vpn"], Scope("C1", share=True), limit=10)
    assert [hit.example_id for hit in both] == [vpn]  # every term common: all of them together
    assert {hit.example_id for hit in await memory_rows.search(db, ["router"], Scope("C1", share=True), limit=10)} == {
        *routers,
        vpn,
    }


async def test_a_memory_is_in_the_index_itself_once_its_transaction_commits(db: Database) -> None:
    for n in range(3):
        await remembered(db, question=f"Router question {n}?", answer="Reboot it.")
    if db.dialect == "postgresql":  # not in GIN's fast-update list, which every search would scan until a vacuum
        await db.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        assert await db.fetchval("SELECT pending_tuples FROM pgstatginindex('memory_items_search')") == 0
    else:
        assert await db.fetchval("SELECT count(*) FROM memory_fts WHERE memory_fts MATCH 'router'") == 3
    assert len(await memory_rows.search(db, ["router"], Scope("C1", share=True), limit=5)) == 3


async def test_scope_keeps_a_private_channels_memory_in_it(db: Database) -> None:
    public = await remembered(db, question="How do I reboot the router?", answer="Pinhole.", channel="C1")
    private = await remembered(db, question="Router reboot in the lab?", answer="Ask Ann.", channel="G1")
    await memory_rows.set_kind(db, "C1", "public")
    await memory_rows.set_kind(db, "G1", "private")
    elsewhere = await memory_rows.search(db, ["router", "reboot"], Scope("C2", share=True), limit=5)
    assert [hit.example_id for hit in elsewhere] == [public]
    inside = await memory_rows.search(db, ["router", "reboot"], Scope("G1", share=False), limit=5)
    assert [hit.example_id for hit in inside] == [private]
    assert await memory_rows.in_scope(db, [public, private], Scope("C2", share=True)) == {public}
    assert await memory_rows.in_scope(db, [public, private], Scope("C2", share=False)) == set()
    await memory_rows.switch(db, "C1", False)
    assert await memory_rows.search(db, ["router"], Scope("C2", share=True), limit=5) == []


async def test_a_rejected_or_edited_example_leaves_the_index_in_its_transaction(db: Database) -> None:
    kept = await remembered(db, question="How do I reboot the router?", answer="Hold the pinhole button.")
    gone = await remembered(db, question="Router password?", answer="Written on the router.")
    async with db.transaction() as tx:
        await tx.execute("UPDATE examples SET state = 'rejected' WHERE id = ?", (gone,))
        await tx.execute("UPDATE examples SET corrected = 'Press reset for ten seconds.' WHERE id = ?", (kept,))
        await memory_rows.sync(tx, [gone, kept])
    assert await memory_rows.search(db, ["password"], Scope("C1", share=True), limit=5) == []
    assert await memory_rows.search(db, ["pinhole"], Scope("C1", share=True), limit=5) == []  # the old answer's words
    (hit,) = await memory_rows.search(db, ["seconds"], Scope("C1", share=True), limit=5)
    assert (hit.example_id, hit.answer) == (kept, "Press reset for ten seconds.")
    await memory_rows.purge(db)
    assert await db.fetchval("SELECT count(*) FROM memory_items") == 1
    assert await memory_rows.generation(db) == 3  # each change told the embeddings' cache


async def test_embeddings_are_stored_as_bytes_on_both(db: Database) -> None:
    example_id = await remembered(db, question="How do I reboot the router?", answer="Pinhole.")
    assert await memory_rows.without_vector(db, "mini", 10) == [(example_id, "How do I reboot the router?")]
    vector = bytes(range(16))
    await memory_rows.set_vectors(db, "mini", [(example_id, "How do I reboot the router?", vector)])
    assert await memory_rows.vectors(db, "mini") == [(example_id, vector)]
    assert await memory_rows.without_vector(db, "mini", 10) == []
