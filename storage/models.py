"""The answering model's history."""

from __future__ import annotations

from dataclasses import dataclass, fields

from storage.db import Database
from storage.states import ModelAction


@dataclass(frozen=True)
class ModelChangeRow:
    """One promotion, rollback or fallback; `forced` when a promotion went past the gate's refusal."""

    id: int
    action: ModelAction
    model: str
    job_id: str | None
    evaluation_id: int | None
    changed_by: str
    created_at: str
    forced: bool
    reason: str | None
    channel: str | None


_SELECT = f"SELECT {', '.join(f.name for f in fields(ModelChangeRow))} FROM model_changes"


async def record_change(
    db: Database,
    *,
    action: ModelAction,
    model: str,
    changed_by: str,
    job_id: str | None,
    evaluation_id: int | None,
    forced: bool = False,
    reason: str | None = None,
    channel: str | None = None,
) -> int:
    return await db.insert(
        "INSERT INTO model_changes (action, model, job_id, evaluation_id, changed_by, forced, reason, channel)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (action, model, job_id, evaluation_id, changed_by, int(forced), reason, channel),
    )


async def history(db: Database) -> list[ModelChangeRow]:
    rows = await db.fetchall(f"{_SELECT} ORDER BY id")
    return [ModelChangeRow(**{**dict(row), "forced": bool(row["forced"])}) for row in rows]
