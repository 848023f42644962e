"""Evaluations and their per-item results."""

from __future__ import annotations

from typing import Any

from storage.db import Database
from storage.states import EvaluationState


async def create(db: Database, values: dict[str, Any]) -> int:
    names = list(values)
    return await db.insert(
        f"INSERT INTO evaluations ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [values[n] for n in names],
    )


async def finish(db: Database, evaluation_id: int, *, state: EvaluationState, summary: str | None, error: str | None,
                 items: list[tuple[str, str]]) -> None:
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO evaluation_items (evaluation_id, item_id, result) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(evaluation_id, item_id, result) for item_id, result in items],
        )
        await tx.execute(
            "UPDATE evaluations SET state = ?, summary = ?, error = ?,"
            " finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
            (state, summary, error, evaluation_id),
        )


async def get(db: Database, evaluation_id: int) -> dict[str, Any] | None:
    row = await db.fetchone("SELECT * FROM evaluations WHERE id = ?", (evaluation_id,))
    return dict(row) if row else None


async def latest_for(db: Database, model: str) -> dict[str, Any] | None:
    """The newest finished evaluation with this model as the candidate."""
    row = await db.fetchone(
        "SELECT * FROM evaluations WHERE candidate = ? AND state = 'done' ORDER BY id DESC LIMIT 1", (model,)
    )
    return dict(row) if row else None


async def item_results(db: Database, evaluation_id: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT result FROM evaluation_items WHERE evaluation_id = ? ORDER BY item_id", (evaluation_id,)
    )
    return [row["result"] for row in rows]
