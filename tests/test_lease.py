"""The writer lease: one holder at a time; a stale or dead holder's lease is taken over."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

from storage import lease, migrate, open_database
from storage.lease import new_holder


async def opened(tmp_path: Path):
    db = await open_database(tmp_path / "lease.db")
    await migrate(db)
    return db


async def test_a_live_holder_keeps_it_and_is_named(tmp_path: Path) -> None:
    db = await opened(tmp_path)
    first, second = new_holder(30), new_holder(30)
    assert await lease.acquire(db, first) is None
    holder = await lease.acquire(db, second)
    assert holder is not None and holder.token == first.token and f"pid {first.pid}" in holder.describe()
    assert await lease.renew(db, first, 30) and not await lease.renew(db, second, 30)
    await lease.release(db, first)
    assert await lease.acquire(db, second) is None
    await db.close()


async def test_an_expired_lease_is_taken_over_and_its_old_holder_learns_it(tmp_path: Path) -> None:
    db = await opened(tmp_path)
    stale = replace(new_holder(30), host="elsewhere", expires_at=time.time() - 1)
    assert await lease.acquire(db, stale) is None
    me = new_holder(30)
    assert await lease.acquire(db, me) is None
    assert not await lease.renew(db, stale, 30)
    await db.close()


async def test_a_killed_holder_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    db = await opened(tmp_path)
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # its pid now names no process
    dead = replace(new_holder(30), pid=gone.pid)
    assert await lease.acquire(db, dead) is None
    successor = new_holder(30)
    assert await lease.acquire(db, successor) is None
    live_elsewhere = replace(new_holder(30), host="elsewhere", pid=gone.pid)
    await lease.release(db, successor)
    assert await lease.acquire(db, live_elsewhere) is None
    assert (await lease.acquire(db, new_holder(30))) == live_elsewhere  # another host: wait for its expiry
    await db.close()
