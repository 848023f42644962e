"""The leader lease: the one replica that runs periodic work holds this row and renews it; when it stops
renewing (it died), another replica takes the row once it expires. One statement either way, so two
replicas trying at once cannot both win, on SQLite or PostgreSQL."""

from __future__ import annotations

import time

from storage.db import Database


async def try_lead(db: Database, replica: str, *, ttl: float) -> bool:
    """Take or renew the lease for `replica`; False while another replica's lease is live."""
    now = time.time()
    rows = await db.write_returning(
        "INSERT INTO leader_lease (id, holder, expires_at) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
        " WHERE leader_lease.holder = excluded.holder OR leader_lease.expires_at < ? RETURNING holder",
        (replica, now + ttl, now),
    )
    return bool(rows)


async def leader(db: Database) -> str | None:
    """The replica whose lease is live, if any."""
    holder: str | None = await db.fetchval(
        "SELECT holder FROM leader_lease WHERE id = 1 AND expires_at >= ?", (time.time(),)
    )
    return holder


async def step_down(db: Database, replica: str) -> None:
    await db.execute("DELETE FROM leader_lease WHERE id = 1 AND holder = ?", (replica,))
