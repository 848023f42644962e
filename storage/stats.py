"""Counts for /tune stats and the App Home."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database
from storage.states import ExampleSource, ExampleState


@dataclass(frozen=True)
class StateSourceCount:
    state: ExampleState
    source: ExampleSource
    n: int


@dataclass(frozen=True)
class ChannelStateCount:
    channel: str
    state: ExampleState
    n: int


@dataclass(frozen=True)
class Contributor:
    user: str
    n: int


@dataclass(frozen=True)
class ActivityRow:
    at: str
    action: str
    actor: str | None
    example_id: int
    state: ExampleState


async def by_state_and_source(db: Database) -> list[StateSourceCount]:
    rows = await db.fetchall("SELECT state, source, count(*) AS n FROM examples GROUP BY state, source")
    return [StateSourceCount(**dict(row)) for row in rows]


async def by_channel(db: Database) -> list[ChannelStateCount]:
    rows = await db.fetchall("SELECT channel, state, count(*) AS n FROM examples GROUP BY channel, state")
    return [ChannelStateCount(**dict(row)) for row in rows]


async def contributors(db: Database, limit: int) -> list[Contributor]:
    """People by examples they gave: a teammate's answer, a correction, or a 👍 on an answer."""
    rows = await db.fetchall(
        """
        SELECT who AS "user", count(*) AS n FROM (
            SELECT author AS who, id AS example_id FROM examples WHERE source = 'teammate_answer'
            UNION SELECT corrector, example_id FROM corrections
            UNION SELECT v.voter, e.id FROM votes v JOIN examples e ON e.channel = v.channel AND e.message_ts = v.ts
                  WHERE v.direction = 1
        ) AS given WHERE who IS NOT NULL GROUP BY who ORDER BY n DESC, who LIMIT ?
        """,
        (limit,),
    )
    return [Contributor(**dict(row)) for row in rows]


async def recent_activity(db: Database, limit: int) -> list[ActivityRow]:
    rows = await db.fetchall(
        "SELECT at, action, actor, example_id, state FROM example_events ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [ActivityRow(**dict(row)) for row in rows]
