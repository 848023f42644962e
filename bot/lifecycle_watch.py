"""The daily lifecycle check (shutdown warnings, the canary card) as a background task with an injectable clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from tuning.release.lifecycle.service import Lifecycle

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


def utc_today() -> date:
    return datetime.now(UTC).date()


class DailyWatch:
    """Runs `Lifecycle.daily` at start and whenever the (UTC) day changes; notices are persisted, so a
    restart sends nothing twice."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        today: Callable[[], date] = utc_today,
        poll_seconds: float = 600.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._lifecycle = lifecycle
        self._today = today
        self._poll = poll_seconds
        self._sleep = sleep
        self.last_run: date | None = None

    async def run_once(self) -> None:
        day = self._today()
        if day == self.last_run:
            return
        try:
            await self._lifecycle.daily(day)
            self.last_run = day
        except Exception:  # a Slack or provider hiccup: try again at the next poll
            log.exception("daily lifecycle check failed")

    async def run(self) -> None:
        while True:
            await self.run_once()
            await self._sleep(self._poll)
