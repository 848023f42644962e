"""Canaries, lifecycle notices, migrations and the live numbers a canary is judged on."""

from __future__ import annotations

from dataclasses import dataclass, fields

from storage.db import Database
from storage.evaluations import SELECT as SELECT_EVALUATION
from storage.evaluations import EvaluationRow
from storage.evaluations import row_of as evaluation_of


@dataclass(frozen=True)
class CanaryRow:
    id: int
    model: str
    share: float
    started_by: str
    started_at: str


@dataclass(frozen=True)
class MigrationRow:
    """A migration: the answering model retrained on another back-end, then evaluated against it."""

    id: int
    source_model: str
    source_job_id: str | None
    job_id: str
    hyperparameters: str
    evaluation_id: int | None
    gate: str | None
    decision: str | None
    channel: str
    card_ts: str | None
    requested_by: str
    created_at: str


@dataclass(frozen=True)
class AnswerFeedback:
    """One answered question: its cost inputs, its latency and the votes and corrections it got."""

    latency_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    up: int
    down: int
    corrections: int


# -- canaries ------------------------------------------------------------------------------------


async def running_canary(db: Database) -> CanaryRow | None:
    row = await db.fetchone("SELECT id, model, share, started_by, started_at FROM canaries WHERE stopped_at IS NULL")
    return CanaryRow(**dict(row)) if row else None


async def start_canary(db: Database, *, model: str, share: float, user: str) -> None:
    await db.execute("INSERT INTO canaries (model, share, started_by) VALUES (?, ?, ?)", (model, share, user))


async def stop_canary(db: Database, canary_id: int, *, user: str, outcome: str) -> None:
    await db.execute(
        "UPDATE canaries SET stopped_by = ?, outcome = ?, stopped_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        " WHERE id = ? AND stopped_at IS NULL",
        (user, outcome, canary_id),
    )


async def answers_since(db: Database, model: str, since: str) -> list[AnswerFeedback]:
    """Every answer `model` gave since `since` (ISO time), with its 👍/👎 (one per person) and corrections."""
    rows = await db.fetchall(
        """
        SELECT a.latency_ms, a.prompt_tokens, a.completion_tokens,
               (SELECT count(*) FROM messages m JOIN votes v ON v.channel = m.channel AND v.ts = m.ts
                 WHERE m.answer_id = a.id AND v.direction = 1) AS up,
               (SELECT count(*) FROM messages m JOIN votes v ON v.channel = m.channel AND v.ts = m.ts
                 WHERE m.answer_id = a.id AND v.direction = -1) AS down,
               (SELECT count(*) FROM examples e JOIN corrections c ON c.example_id = e.id
                 WHERE e.answer_id = a.id) AS corrections
        FROM answers a
        WHERE a.model = ? AND a.status = 'answered' AND a.created_at >= ?
        ORDER BY a.id
        """,
        (model, since),
    )
    return [AnswerFeedback(**dict(row)) for row in rows]


# -- notices ---------------------------------------------------------------------------------------


async def claim_notice(db: Database, key: str) -> bool:
    """True the first time `key` is claimed: a notice is sent once, even across restarts."""
    return bool(
        await db.write_returning(
            "INSERT INTO lifecycle_notices (key) VALUES (?) ON CONFLICT DO NOTHING RETURNING 1", (key,)
        )
    )


async def release_notice(db: Database, key: str) -> None:
    """Forget a claim whose notice could not be posted, so the next check tries again."""
    await db.execute("DELETE FROM lifecycle_notices WHERE key = ?", (key,))


# -- gate and migrations ---------------------------------------------------------------------------


async def latest_comparison(db: Database, *, candidate: str, baseline: str, dataset: str) -> EvaluationRow | None:
    """The newest finished evaluation of `candidate` against `baseline` on `dataset`."""
    return evaluation_of(
        await db.fetchone(
            f"{SELECT_EVALUATION} WHERE candidate = ? AND baseline = ? AND dataset = ? AND state = 'done'"
            " ORDER BY id DESC LIMIT 1",
            (candidate, baseline, dataset),
        )
    )


async def record_migration(
    db: Database,
    *,
    source_model: str,
    source_job_id: str | None,
    job_id: str,
    hyperparameters: str,
    channel: str,
    user: str,
) -> None:
    await db.execute(
        "INSERT INTO model_migrations (source_model, source_job_id, job_id, hyperparameters, channel, requested_by)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (source_model, source_job_id, job_id, hyperparameters, channel, user),
    )


_SELECT_MIGRATION = f"SELECT {', '.join(f.name for f in fields(MigrationRow))} FROM model_migrations"


async def migration_for_job(db: Database, job_id: str) -> MigrationRow | None:
    row = await db.fetchone(f"{_SELECT_MIGRATION} WHERE job_id = ?", (job_id,))
    return MigrationRow(**dict(row)) if row else None


async def set_migration(db: Database, job_id: str, **values: str | int | None) -> None:
    """Set some of: evaluation_id, gate, decision, card_ts."""
    allowed = {"evaluation_id", "gate", "decision", "card_ts"}
    if not values or set(values) - allowed:
        raise ValueError(f"set_migration takes {sorted(allowed)}")
    assignments = ", ".join(f"{name} = ?" for name in values)
    await db.execute(f"UPDATE model_migrations SET {assignments} WHERE job_id = ?", (*values.values(), job_id))


async def job_of_model(db: Database, model: str) -> str | None:
    """The job that trained `model`, if Tuneloop ran it."""
    job_id: str | None = await db.fetchval(
        "SELECT id FROM jobs WHERE fine_tuned_model = ? ORDER BY created_at DESC LIMIT 1", (model,)
    )
    return job_id


async def set_answer_model(db: Database, answer_id: int, model: str) -> None:
    """The model that actually answered, when a fallback replaced the one claimed."""
    await db.execute("UPDATE answers SET model = ? WHERE id = ?", (model, answer_id))


async def first_answer_model(db: Database, channel: str, thread_ts: str) -> str | None:
    """The model of the first answer in a thread: a conversation keeps its model."""
    model: str | None = await db.fetchval(
        "SELECT model FROM answers WHERE channel = ? AND thread_ts = ? ORDER BY id LIMIT 1", (channel, thread_ts)
    )
    return model


async def last_announcement_channel(db: Database) -> str | None:
    """Where the newest promotion was announced: the announcement channel when none is configured."""
    channel: str | None = await db.fetchval(
        "SELECT channel FROM model_changes WHERE action = 'promote' AND channel IS NOT NULL ORDER BY id DESC LIMIT 1"
    )
    return channel
