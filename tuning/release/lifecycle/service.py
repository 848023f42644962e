"""The lifecycle services handlers and the daily watch call, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tuning.release.lifecycle.canary import CanaryService
from tuning.release.lifecycle.fallback import Fallback
from tuning.release.lifecycle.notices import Announcements
from tuning.release.lifecycle.retirement import RetirementWatch
from tuning.release.lifecycle.successor import SuccessorMigrations


@dataclass(frozen=True)
class Lifecycle:
    canary: CanaryService
    fallback: Fallback
    watch: RetirementWatch
    announcements: Announcements
    migrations: SuccessorMigrations

    async def daily(self, today: date) -> None:
        """Once a day: shutdown warnings due today, and the canary's card."""
        await self.watch.check(today)
        report = await self.canary.report()
        if report is not None:
            publisher = self.announcements.publisher
            await self.announcements.once(
                f"canary:{report.canary.id}:{today}", lambda channel: publisher.canary_card(channel, report)
            )
