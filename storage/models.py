"""The answering model's history."""

from __future__ import annotations

from typing import Any

from storage.db import Database


async def record_change(
    db: Database, *, action: str, model: str, changed_by: str, job_id: str | None, evaluation_id: int | None
) -> None:
    await db.execute(
        "INSERT INTO model_changes (action, model, job_id, evaluation_id, changed_by) VALUES (?, ?, ?, ?, ?)",
        (action, model, job_id, evaluation_id, changed_by),
    )


async def history(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT id, action, model, job_id, evaluation_id, changed_by, created_at FROM model_changes ORDER BY id"
    )
    return [dict(row) for row in rows]
