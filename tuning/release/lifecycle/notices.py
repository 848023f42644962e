"""Where lifecycle news goes: the announcement channel, through a publisher the Slack side implements."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol

from storage import lifecycle as lifecycle_rows
from storage.db import Database

if TYPE_CHECKING:
    from tuning.release.lifecycle.canary import CanaryReport
    from tuning.release.promotion import ModelChange

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShutdownWarning:
    model: str
    role: str  # "the answering model", "the canary", "the base of `…`"
    shutdown: date
    days_left: int
    source: str  # "the model catalogue" or "OpenAI's model listing"


class LifecyclePublisher(Protocol):
    async def shutdown_warning(self, channel: str, warning: ShutdownWarning, admins: frozenset[str]) -> None: ...

    async def fell_back(self, channel: str, gone: str, change: ModelChange) -> None: ...

    async def canary_card(self, channel: str, report: CanaryReport) -> None: ...


class Announcements:
    """Posts each notice once (its key is persisted), in TUNELOOP_ANNOUNCE_CHANNEL or else where the newest
    promotion was announced."""

    def __init__(self, db: Database, publisher: LifecyclePublisher, *, channel: str | None) -> None:
        self._db = db
        self.publisher = publisher
        self._channel = channel

    async def channel(self) -> str | None:
        return self._channel or await lifecycle_rows.last_announcement_channel(self._db)

    async def once(self, key: str, post: Callable[[str], Awaitable[None]]) -> bool:
        """Run `post(channel)` unless `key` was sent before; a failed post is retried at the next check."""
        channel = await self.channel()
        if channel is None:
            log.warning("no announcement channel (set TUNELOOP_ANNOUNCE_CHANNEL): %s not posted", key)
            return False
        if not await lifecycle_rows.claim_notice(self._db, key):
            return False
        try:
            await post(channel)
        except Exception:
            await lifecycle_rows.release_notice(self._db, key)
            raise
        return True
