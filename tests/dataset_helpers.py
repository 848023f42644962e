"""Helpers shared by the dataset and capture tests: example rows, a migrated database, reading lines back."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from storage import Database, migrate, open_database
from tuning.training.datasets.checks import check_dpo, check_sft

SYSTEM = "You are Tuneloop, a helpful assistant."
_ts = itertools.count(1)


async def new_db(tmp_path: Path, database: str | None = None) -> Database:
    """Migrated: the SQLite file in tmp_path, or `database` (a postgresql:// URL) with tmp_path as its data folder."""
    db = await open_database(database or tmp_path / "tuneloop.db", home=tmp_path)
    await migrate(db)
    return db


def conversation(question: str, *history: tuple[str, str]) -> list[dict[str, str]]:
    """System prompt, earlier (user, assistant) turns, then the question."""
    turns = [{"role": "system", "content": SYSTEM}]
    for asked, answered in history:
        turns += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return turns + [{"role": "user", "content": question}]


async def add_example(
    db: Database,
    *,
    question: str = "How do I reset the router?",
    answer: str = "Hold the reset button.",
    corrected: str | None = None,
    state: str = "approved",
    channel: str = "C1",
    thread_ts: str | None = None,
    up: int = 1,
    down: int = 0,
    created_at: str = "2026-03-01T10:00:00.000Z",
    messages: list[dict[str, Any]] | str | None = None,
) -> int:
    """One row of the examples table (migration 0003); returns its id."""
    stored = messages if isinstance(messages, str) else json.dumps(messages or conversation(question))
    return await db.insert(
        "INSERT INTO examples (source, state, channel, thread_ts, message_ts, conversation, question, answer,"
        " corrected, up_votes, down_votes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "correction" if corrected else "bot_answer",
            state,
            channel,
            thread_ts,
            f"{next(_ts)}.0001",
            stored,
            question,
            answer,
            corrected,
            up,
            down,
            created_at,
        ),
    )


async def add_many(db: Database, n: int, **fields: Any) -> list[int]:
    return [
        await add_example(db, question=f"Question number {i}?", answer=f"Answer number {i}.", **fields)
        for i in range(n)
    ]


def read_lines(path: Path) -> list[dict[str, Any]]:
    """A written file read back the way a trainer would: one JSON object per line."""
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def assert_file_passes_checks(path: Path, fmt: str) -> int:
    check = check_sft if fmt == "sft" else check_dpo
    lines = read_lines(path)
    assert [check(line) for line in lines] == [None] * len(lines)
    return len(lines)


async def members(db: Database, dataset_id: int) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT example_id, split, row_number() OVER (PARTITION BY split ORDER BY example_id) AS line, rejected_id,"
        " tokens FROM dataset_members WHERE dataset_id = ? ORDER BY split, line",
        (dataset_id,),
    )
    return [dict(row) for row in rows]
