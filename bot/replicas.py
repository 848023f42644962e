"""This process among the replicas serving one database: its name, the heartbeat that keeps its claims, and
leadership, which decides where the periodic work runs.

On SQLite the writer lease makes this process the only one: it leads from the start and any claim left in
the file is a dead process's. On PostgreSQL the replicas elect a leader through a lease row renewed every
LEAD_RENEW_SECONDS; when the leader dies, another takes the row once it expires (LEAD_TTL_SECONDS) and starts
the periodic work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from storage import claims
from storage import leader as leader_rows
from storage.db import Database

log = logging.getLogger(__name__)

CLAIM_SECONDS = 10.0  # an event's or answer's claim lasts this long unless its replica renews it
CLAIM_RENEW_SECONDS = 3.0
RESCAN_SECONDS = 1.0  # how often a replica looks for claims a dead replica left
LEAD_TTL_SECONDS = 6.0
LEAD_RENEW_SECONDS = 2.0

PeriodicWork = Callable[[], Coroutine[Any, Any, None]]


def replica_name() -> str:
    """Unique per process, readable in logs and /metrics: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Replica:
    def __init__(self, db: Database, name: str, *, on_leading: Callable[[bool], None] = lambda leading: None) -> None:
        self.db = db
        self.name = name
        self.shared = db.dialect == "postgresql"  # other replicas may share the database
        self.leading = False
        self._on_leading = on_leading

    @property
    def rescan_seconds(self) -> float | None:
        return RESCAN_SECONDS if self.shared else None

    async def start(self) -> None:
        if not self.shared:
            await claims.release_all(self.db)

    async def keep_claims(self) -> None:
        """The heartbeat: while this runs, this replica's claims stay its own."""
        while True:
            await asyncio.sleep(CLAIM_RENEW_SECONDS)
            try:
                await claims.renew(self.db, self.name, ttl=CLAIM_SECONDS)
            except Exception:  # the database briefly away: the claims last several renewals
                log.warning("could not renew this replica's claims", exc_info=True)

    async def lead(self, work: list[tuple[str, PeriodicWork]]) -> None:
        """Run `work` while this replica leads; stop it when leadership is lost, start it again when won."""
        running: list[asyncio.Task[None]] = []
        try:
            while True:
                leading = await self._try_lead()
                if leading and not running:
                    log.info("replica %s leads: starting the periodic work", self.name)
                    running = [asyncio.create_task(make(), name=name) for name, make in work]
                elif not leading and running:
                    log.warning("replica %s no longer leads: stopping the periodic work", self.name)
                    await _cancel(running)
                    running = []
                self._set_leading(leading)
                if not self.shared:
                    await asyncio.Event().wait()  # the only process: it leads until it stops
                await asyncio.sleep(LEAD_RENEW_SECONDS)
        finally:
            await _cancel(running)
            self._set_leading(False)

    async def stop(self) -> None:
        """Hand leadership and unfinished claims to the other replicas at once instead of at expiry."""
        if self.shared:
            with contextlib.suppress(Exception):
                await leader_rows.step_down(self.db, self.name)
                await claims.release(self.db, self.name)

    async def _try_lead(self) -> bool:
        if not self.shared:
            return True
        try:
            return await leader_rows.try_lead(self.db, self.name, ttl=LEAD_TTL_SECONDS)
        except Exception:  # cannot renew: stop leading before the lease can pass to another
            log.warning("could not renew the leader lease", exc_info=True)
            return False

    def _set_leading(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            self._on_leading(leading)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
