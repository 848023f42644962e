"""The answering model's history."""

from __future__ import annotations

from typing import Any

from storage.db import Database


async def record_change(
    db: Database, *, action: str, model: str, changed_by: str, job_id: str | None, evaluation_id: int | None,
    forced: bool = False, reason: str | None = None, channel: str | None = None,
) -> int:
    return await db.insert(
        "INSERT INTO model_changes (action, model, job_id, evaluation_id, changed_by, forced, reason, channel)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (action, model, job_id, evaluation_id, changed_by, int(forced), reason, channel),
    )


async def history(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT id, action, model, job_id, evaluation_id, changed_by, created_at, forced, reason, channel"
        " FROM model_changes ORDER BY id"
    )
    return [dict(row) for row in rows]
