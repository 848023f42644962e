"""Append-only, named migrations: the only place the schema is defined.

Never edit or reorder an entry once it has landed; add a new one.
"""

from __future__ import annotations

from storage.db import Database

_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_inbox",
        f"""
        -- Every Slack event is written here before Slack gets its 200, then processed.
        CREATE TABLE inbox (
            id            INTEGER PRIMARY KEY,
            event_id      TEXT NOT NULL UNIQUE,
            event_type    TEXT NOT NULL,
            body          TEXT NOT NULL,
            received_at   TEXT NOT NULL DEFAULT {_NOW},
            processed_at  TEXT,
            attempts      INTEGER NOT NULL DEFAULT 0,
            error         TEXT
        );
        CREATE INDEX inbox_pending ON inbox (id) WHERE processed_at IS NULL;
        """,
    ),
    (
        "0002_messages_and_answers",
        f"""
        CREATE TABLE answers (
            id                INTEGER PRIMARY KEY,
            team_id           TEXT,
            channel           TEXT NOT NULL,
            thread_ts         TEXT NOT NULL,
            question_ts       TEXT NOT NULL,
            asked_by          TEXT NOT NULL,
            answer_ts         TEXT,
            model             TEXT NOT NULL,
            request_messages  TEXT,
            answer_text       TEXT,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            latency_ms        INTEGER,
            status            TEXT NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'answered', 'failed')),
            error             TEXT,
            created_at        TEXT NOT NULL DEFAULT {_NOW},
            finished_at       TEXT,
            UNIQUE (channel, question_ts)
        );
        CREATE INDEX answers_thread ON answers (channel, thread_ts);

        -- Slack's ts is unique only within a channel.
        CREATE TABLE messages (
            channel     TEXT NOT NULL,
            ts          TEXT NOT NULL,
            team_id     TEXT,
            thread_ts   TEXT,
            user_id     TEXT,
            is_bot      INTEGER NOT NULL DEFAULT 0,
            text        TEXT NOT NULL,
            answer_id   INTEGER REFERENCES answers (id),
            created_at  TEXT NOT NULL DEFAULT {_NOW},
            PRIMARY KEY (channel, ts)
        );
        CREATE INDEX messages_thread ON messages (channel, thread_ts);
        CREATE INDEX messages_answer ON messages (answer_id) WHERE answer_id IS NOT NULL;
        """,
    ),
]


async def migrate(db: Database) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    await db.execute(
        f"CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT {_NOW})"
    )
    done = {row["name"] for row in await db.fetchall("SELECT name FROM _migrations")}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        async with db.transaction() as conn:
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    # executescript() would commit our transaction; split instead (no ';' inside our DDL literals).
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
