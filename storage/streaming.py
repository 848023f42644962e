"""Channels where Slack refused to stream an answer: remembered so each is tried once."""

from __future__ import annotations

from storage.db import Database


async def is_refused(db: Database, channel: str) -> bool:
    return await db.fetchval("SELECT 1 FROM streaming_refused WHERE channel = ?", (channel,)) is not None


async def refuse(db: Database, channel: str, error: str) -> None:
    await db.execute(
        "INSERT INTO streaming_refused (channel, error) VALUES (?, ?) ON CONFLICT (channel) DO NOTHING",
        (channel, error),
    )
