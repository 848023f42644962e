"""Dedicated endpoints Tuneloop created: which model each serves, under which name, in which state."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

from storage.db import Database, Row

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
MOVING = ("PENDING", "STARTING", "STOPPING")


@dataclass(frozen=True)
class NewEndpoint:
    id: str
    name: str
    model: str
    job_id: str | None
    hardware: str
    usd_per_hour: float | None
    state: str
    inactive_timeout: int | None
    channel: str | None
    thread_ts: str | None
    created_by: str


@dataclass(frozen=True)
class EndpointRow(NewEndpoint):
    """A stored endpoint: what was created, plus whether "ready" was posted and when it last changed."""

    ready_posted: int
    created_at: str
    updated_at: str


_NEW_COLUMNS = [f.name for f in fields(NewEndpoint)]
_SELECT = f"SELECT {', '.join(f.name for f in fields(EndpointRow))} FROM endpoints"


def _row(row: Row | None) -> EndpointRow | None:
    return EndpointRow(**dict(row)) if row else None


def _tiebreak(db: Database) -> str:
    """Between endpoints created in the same millisecond: insertion order on SQLite (rowid); PostgreSQL has
    no insertion order, so the provider's id there (any fixed order will do)."""
    return "rowid" if db.dialect == "sqlite" else "id"


async def insert(db: Database, endpoint: NewEndpoint) -> None:
    await db.execute(
        f"INSERT INTO endpoints ({', '.join(_NEW_COLUMNS)}) VALUES ({', '.join('?' * len(_NEW_COLUMNS))})",
        astuple(endpoint),
    )


async def get(db: Database, endpoint_id: str) -> EndpointRow | None:
    return _row(await db.fetchone(f"{_SELECT} WHERE id = ?", (endpoint_id,)))


async def by_name(db: Database, name: str) -> EndpointRow | None:
    return _row(await db.fetchone(f"{_SELECT} WHERE name = ?", (name,)))


async def for_job(db: Database, job_id: str) -> EndpointRow | None:
    """The job's newest endpoint."""
    return _row(
        await db.fetchone(
            f"{_SELECT} WHERE job_id = ? ORDER BY created_at DESC, {_tiebreak(db)} DESC LIMIT 1", (job_id,)
        )
    )


async def for_model(db: Database, model: str) -> EndpointRow | None:
    return _row(
        await db.fetchone(f"{_SELECT} WHERE model = ? ORDER BY created_at DESC, {_tiebreak(db)} DESC LIMIT 1", (model,))
    )


async def listed(db: Database) -> list[EndpointRow]:
    return [EndpointRow(**dict(row)) for row in await db.fetchall(f"{_SELECT} ORDER BY created_at, {_tiebreak(db)}")]


async def moving(db: Database) -> list[EndpointRow]:
    """Endpoints between states: the monitor follows them until they settle (and after a restart)."""
    marks = ", ".join("?" * len(MOVING))
    rows = await db.fetchall(f"{_SELECT} WHERE state IN ({marks}) OR (state = 'STARTED' AND ready_posted = 0)", MOVING)
    return [EndpointRow(**dict(row)) for row in rows]


async def set_state(db: Database, endpoint_id: str, state: str, *, rearm: bool = False) -> None:
    """`rearm`: an endpoint started again is announced again when it is ready."""
    ready = ", ready_posted = 0" if rearm else ""
    await db.execute(f"UPDATE endpoints SET state = ?{ready}, updated_at = {_NOW} WHERE id = ?", (state, endpoint_id))


async def claim_ready_post(db: Database, endpoint_id: str) -> bool:
    """True once: whoever flips the flag posts "ready"."""
    rows = await db.write_returning(
        "UPDATE endpoints SET ready_posted = 1 WHERE id = ? AND ready_posted = 0 RETURNING id", (endpoint_id,)
    )
    return bool(rows)


async def delete(db: Database, endpoint_id: str) -> None:
    await db.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))
