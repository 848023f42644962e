"""Workspace member names, cached in the database and refreshed hourly, feeding the scrubber."""

from __future__ import annotations

import logging
import time

from storage import members as member_rows
from storage.db import Database
from tuning.ports import SlackReader
from tuning.scrub import Scrubber

log = logging.getLogger(__name__)
REFRESH_SECONDS = 3600.0


class MemberDirectory:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._scrubber: Scrubber | None = None
        self._loaded_at = float("-inf")

    async def scrubber(self, reader: SlackReader) -> Scrubber:
        if self._scrubber is None or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            await self._refresh(reader)
        assert self._scrubber is not None
        return self._scrubber

    async def _refresh(self, reader: SlackReader) -> None:
        try:
            members = await reader.members()
            await member_rows.replace_all(self._db, [(m.user_id, m.name, m.real_name, m.display_name) for m in members])
        except Exception:  # users.list down: scrub with the names cached last time rather than not at all
            log.warning("could not refresh workspace members; using the cached names", exc_info=True)
        self._scrubber = Scrubber(await member_rows.names(self._db))
        self._loaded_at = time.monotonic()
