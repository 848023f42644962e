"""The writer lease: one row naming the one process that serves from this database, renewed while it runs.

Two processes on one SQLite file would each process the other's inbox rows (the guard against answering
twice lives in memory), so `serve` takes this lease first and refuses to start while someone else holds it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class Holder:
    token: str
    pid: int
    host: str
    started_at: float
    expires_at: float

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started_at))
        return f"pid {self.pid} on {self.host}, started {started}"

    def is_dead_here(self) -> bool:
        """A holder on this host whose process is gone (killed): its lease need not wait for expiry."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, someone else's
            return False
        return False


def new_holder(ttl: float, now: float | None = None) -> Holder:
    now = time.time() if now is None else now
    return Holder(uuid.uuid4().hex, os.getpid(), socket.gethostname(), now, now + ttl)


async def acquire(db: Database, me: Holder) -> Holder | None:
    """Take the lease for `me`; returns the other holder (and takes nothing) while theirs is live."""
    async with db.transaction() as conn:
        row = await conn.fetchone("SELECT token, pid, host, started_at, expires_at FROM writer_lease WHERE id = 1")
        if row is not None:
            current = Holder(**dict(row))
            if current.token != me.token and current.expires_at > time.time() and not current.is_dead_here():
                return current
        await conn.execute(
            "INSERT INTO writer_lease (id, token, pid, host, started_at, expires_at) VALUES (1, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET token = excluded.token, pid = excluded.pid, host = excluded.host,"
            " started_at = excluded.started_at, expires_at = excluded.expires_at",
            (me.token, me.pid, me.host, me.started_at, me.expires_at),
        )
    return None


async def renew(db: Database, me: Holder, ttl: float) -> bool:
    """Push the expiry on; False when the lease is no longer ours (it expired and another process took it)."""
    rows = await db.write_returning(
        "UPDATE writer_lease SET expires_at = ? WHERE id = 1 AND token = ? RETURNING id", (time.time() + ttl, me.token)
    )
    return bool(rows)


async def release(db: Database, me: Holder) -> None:
    await db.execute("DELETE FROM writer_lease WHERE id = 1 AND token = ?", (me.token,))
