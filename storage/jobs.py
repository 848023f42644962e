"""Fine-tuning jobs, their metric points and their events."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from typing import Any

from storage.db import Database, Row
from storage.states import JobStatus

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
ACTIVE_STATES: tuple[JobStatus, ...] = ("starting", "pending", "running", "cancelling")


@dataclass(frozen=True)
class NewJob:
    """What pre-flight records: the dataset, back-end, model and estimate a Start would train with."""

    id: str
    dataset_id: int
    dataset: str
    trainer: str
    base_model: str
    method: str
    options: str
    examples: int
    tokens: int
    epochs: int
    estimated_cost: float | None
    state: JobStatus
    channel: str
    requested_by: str
    cost_note: str | None
    tokens_note: str | None


@dataclass(frozen=True)
class MetricRow:
    """Training progress at one step, as the provider reported it."""

    step: int
    total_steps: int | None
    epoch: float | None
    train_loss: float | None
    valid_loss: float | None
    token_accuracy: float | None


@dataclass(frozen=True)
class JobEventRow:
    """A provider's human-readable line about a job (`event_id` is the provider's)."""

    event_id: str
    created_at: str
    level: str
    message: str


@dataclass(frozen=True)
class JobRow(NewJob):
    """A stored job: what pre-flight recorded, plus who moved it, the provider's side and its progress."""

    raw_status: str | None
    provider_job_id: str | None
    fine_tuned_model: str | None
    trained_tokens: int | None
    error_code: str | None
    error_message: str | None
    card_ts: str | None
    started_by: str | None
    cancelled_by: str | None
    event_cursor: str | None
    step: int | None
    total_steps: int | None
    epoch: float | None
    train_loss: float | None
    valid_loss: float | None
    finish_posted: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    gpu_hours: float | None = None
    serving_note: str | None = None


_COLUMNS = [f.name for f in fields(JobRow)]
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
# Columns a caller may set through update(); the rest are written only by the functions below.
_UPDATABLE = frozenset(_COLUMNS) - {"id", "dataset_id", "created_at", "finish_posted"}


def _row(row: Row | None) -> JobRow | None:
    return JobRow(**dict(row)) if row else None


_NEW_COLUMNS = [f.name for f in fields(NewJob)]


async def insert(db: Database, job: NewJob) -> None:
    await db.execute(
        f"INSERT INTO jobs ({', '.join(_NEW_COLUMNS)}) VALUES ({', '.join('?' * len(_NEW_COLUMNS))})", astuple(job)
    )


async def get(db: Database, job_id: str) -> JobRow | None:
    return _row(await db.fetchone(f"{_SELECT} WHERE id = ?", (job_id,)))


async def find(db: Database, ref: str) -> JobRow | None:
    """By Tuneloop's id or by the provider's job id."""
    return _row(await db.fetchone(f"{_SELECT} WHERE id = ? OR provider_job_id = ? LIMIT 1", (ref, ref)))


async def update(db: Database, job_id: str, **values: Any) -> None:
    unknown = set(values) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in values)
    await db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*values.values(), job_id])


async def transition(
    db: Database, job_id: str, *, from_states: tuple[JobStatus, ...], to_state: JobStatus, **values: Any
) -> bool:
    """Move the job only if it is in one of `from_states`: the one click (or admin) that wins does the work."""
    extra = "".join(f", {name} = ?" for name in values)
    marks = ", ".join("?" * len(from_states))
    async with db.transaction() as tx:
        changed = await tx.execute(
            f"UPDATE jobs SET state = ?{extra} WHERE id = ? AND state IN ({marks})",
            [to_state, *values.values(), job_id, *from_states],
        )
        return changed == 1


async def active(db: Database) -> list[JobRow]:
    marks = ", ".join("?" * len(ACTIVE_STATES))
    rows = await db.fetchall(f"{_SELECT} WHERE state IN ({marks}) ORDER BY created_at", ACTIVE_STATES)
    return [JobRow(**dict(row)) for row in rows]


async def recent(db: Database, limit: int) -> list[JobRow]:
    rows = await db.fetchall(f"{_SELECT} WHERE state != 'dismissed' ORDER BY created_at DESC LIMIT ?", (limit,))
    return [JobRow(**dict(row)) for row in rows]


async def claim_finish_post(db: Database, job_id: str) -> bool:
    """True once per job: whoever gets it posts the end of the job (loss curve, evaluation)."""
    async with db.transaction() as tx:
        return await tx.execute("UPDATE jobs SET finish_posted = 1 WHERE id = ? AND finish_posted = 0", (job_id,)) == 1


async def add_metrics(db: Database, job_id: str, points: list[MetricRow]) -> None:
    await db.executemany(
        "INSERT INTO job_metrics (job_id, step, total_steps, epoch, train_loss, valid_loss, token_accuracy)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(job_id, *astuple(point)) for point in points],
    )


async def metrics(db: Database, job_id: str) -> list[MetricRow]:
    rows = await db.fetchall(
        "SELECT step, total_steps, epoch, train_loss, valid_loss, token_accuracy FROM job_metrics"
        " WHERE job_id = ? ORDER BY step",
        (job_id,),
    )
    return [MetricRow(**dict(row)) for row in rows]


async def add_events(db: Database, job_id: str, events: list[JobEventRow]) -> None:
    await db.executemany(
        "INSERT INTO job_events (job_id, event_id, created_at, level, message) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [(job_id, *astuple(event)) for event in events],
    )


async def unposted_events(db: Database, job_id: str) -> list[JobEventRow]:
    rows = await db.fetchall(
        "SELECT event_id, created_at, level, message FROM job_events WHERE job_id = ? AND posted = 0"
        " ORDER BY created_at, event_id",
        (job_id,),
    )
    return [JobEventRow(**dict(row)) for row in rows]


async def mark_posted(db: Database, job_id: str, event_id: str) -> None:
    await db.execute("UPDATE job_events SET posted = 1 WHERE job_id = ? AND event_id = ?", (job_id, event_id))


async def trainer_of_model(db: Database, model: str) -> str | None:
    """The back-end of the job that tuned `model`, by the tuned model's name or its endpoint's."""
    trainer: str | None = await db.fetchval(
        "SELECT trainer FROM jobs WHERE fine_tuned_model = ? OR id IN (SELECT job_id FROM endpoints WHERE name = ?) "
        "ORDER BY created_at DESC LIMIT 1",
        (model, model),
    )
    return trainer
