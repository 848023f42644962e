"""Evaluations and their per-item results."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

from storage.db import Database, Row
from storage.states import EvaluationState


@dataclass(frozen=True)
class NewEvaluation:
    candidate: str
    baseline: str | None
    judge: str | None
    dataset: str
    job_id: str | None
    items: int
    channel: str | None
    requested_by: str | None


@dataclass(frozen=True)
class EvaluationRow(NewEvaluation):
    """A stored evaluation: what was asked, plus its state and, once finished, its summary (JSON) or error."""

    id: int
    state: EvaluationState
    summary: str | None
    error: str | None
    created_at: str
    finished_at: str | None


_NEW_COLUMNS = [f.name for f in fields(NewEvaluation)]
SELECT = f"SELECT {', '.join(f.name for f in fields(EvaluationRow))} FROM evaluations"


def row_of(row: Row | None) -> EvaluationRow | None:
    return EvaluationRow(**dict(row)) if row else None


async def create(db: Database, evaluation: NewEvaluation) -> int:
    return await db.insert(
        f"INSERT INTO evaluations ({', '.join(_NEW_COLUMNS)}) VALUES ({', '.join('?' * len(_NEW_COLUMNS))})",
        astuple(evaluation),
    )


async def finish(
    db: Database,
    evaluation_id: int,
    *,
    state: EvaluationState,
    summary: str | None,
    error: str | None,
    items: list[tuple[str, str]],
) -> None:
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


async def get(db: Database, evaluation_id: int) -> EvaluationRow | None:
    return row_of(await db.fetchone(f"{SELECT} WHERE id = ?", (evaluation_id,)))


async def latest_for(db: Database, model: str) -> EvaluationRow | None:
    """The newest finished evaluation with this model as the candidate."""
    return row_of(
        await db.fetchone(f"{SELECT} WHERE candidate = ? AND state = 'done' ORDER BY id DESC LIMIT 1", (model,))
    )


async def item_results(db: Database, evaluation_id: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT result FROM evaluation_items WHERE evaluation_id = ? ORDER BY item_id", (evaluation_id,)
    )
    return [row["result"] for row in rows]
