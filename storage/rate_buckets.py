"""Token buckets kept in the database, so every replica on it draws on the same budget (per team and method).

A take is one statement (an upsert that refills the bucket for the time since its last take, then takes one
token if there is one), atomic on both databases: on PostgreSQL the upsert locks the bucket's row, so
concurrent takes from any number of replicas queue on that row alone (no transaction, no advisory lock).
Times are Unix seconds from the caller's clock; a clock behind the bucket's last take refills nothing.
"""

from __future__ import annotations

from storage.db import Database

# ?1 team, ?2 method, ?3 tokens a minute (also the burst), ?4 now. {least}/{greatest}: SQLite's scalar min/max.
_TAKE = """
    INSERT INTO rate_buckets (team, method, tokens, at) VALUES (?1, ?2, ?3 - 1, ?4)
    ON CONFLICT (team, method) DO UPDATE SET
        tokens = {least}(?3, rate_buckets.tokens + {greatest}(0, ?4 - rate_buckets.at) * ?3 / 60) - 1,
        at = {greatest}(?4, rate_buckets.at)
    WHERE {least}(?3, rate_buckets.tokens + {greatest}(0, ?4 - rate_buckets.at) * ?3 / 60) >= 1
    RETURNING tokens
"""
_TAKE_SQL = {
    "sqlite": _TAKE.format(least="min", greatest="max"),
    "postgresql": _TAKE.format(least="LEAST", greatest="GREATEST"),
}


async def take(db: Database, team: str, method: str, per_minute: float, now: float) -> bool:
    """Take one token from the (team, method) bucket, full at first; False when it is empty."""
    return bool(await db.write_returning(_TAKE_SQL[db.dialect], (team, method, float(per_minute), float(now))))
