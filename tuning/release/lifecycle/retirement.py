"""The shutdown watch: admins hear 30, 7 and 1 days before a model Tuneloop depends on is turned off.

Watched: the answering model, the canary, and the base model of each (a fine-tune dies with its base).
Dates come from the model catalogue and, where it publishes one, the provider's model listing; the
earlier date wins. Each warning is sent once (persisted), and only the nearest threshold is sent, so a
watch that starts 5 days before a shutdown sends the 7-day warning, not the 30-day one too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from tuning.catalogue.entries import Catalogue, base_model
from tuning.release.lifecycle.canary import CanaryService
from tuning.release.lifecycle.notices import Announcements, ShutdownWarning
from tuning.release.promotion import Promotions

WARN_DAYS = (1, 7, 30)


class ModelListing(Protocol):
    async def shutdown_date(self, model: str) -> date | None: ...


@dataclass(frozen=True)
class WatchedModel:
    model: str
    role: str
    shutdown: date | None
    source: str | None


class RetirementWatch:
    def __init__(
        self,
        promotions: Promotions,
        canary: CanaryService,
        announcements: Announcements,
        *,
        catalogue: Callable[[], Catalogue],
        listings: list[ModelListing],
        admins: frozenset[str],
    ) -> None:
        self._promotions = promotions
        self._canary = canary
        self._announcements = announcements
        self._catalogue = catalogue
        self._listings = listings
        self._admins = admins

    async def watched(self) -> list[WatchedModel]:
        """Every model the bot depends on now, with its shutdown date (None: none announced)."""
        roles: list[tuple[str, str]] = [(await self._promotions.current(), "the answering model")]
        canary = await self._canary.running()
        if canary is not None:
            roles.append((canary.model, "the canary"))
        for model, _ in list(roles):
            base = base_model(model)
            if base != model:
                roles.append((base, f"the base of `{model}`"))
        return [await self._dated(model, role) for model, role in roles]

    async def check(self, today: date) -> list[ShutdownWarning]:
        """Send the warnings due today; returns those sent now."""
        sent, dates = [], set()
        for watched in await self.watched():
            warning = _due(watched, today)
            if warning is None or (watched.role.startswith("the base of") and warning.shutdown in dates):
                continue  # a base shutting down with its fine-tune: the fine-tune's warning says it
            dates.add(warning.shutdown)
            key = f"shutdown:{warning.model}:{warning.shutdown}:{_threshold(warning.days_left)}"
            if await self._announcements.once(key, self._post(warning)):
                sent.append(warning)
        return sent

    def _post(self, warning: ShutdownWarning) -> Callable[[str], Awaitable[None]]:
        async def post(channel: str) -> None:
            await self._announcements.publisher.shutdown_warning(channel, warning, self._admins)

        return post

    async def _dated(self, model: str, role: str) -> WatchedModel:
        entry = self._catalogue().entry(model)
        found = [(entry.shutdown, "the model catalogue")] if entry and entry.shutdown else []
        for listing in self._listings:
            listed = await listing.shutdown_date(model)
            if listed is not None:
                found.append((listed, "the provider's model listing"))
        if not found:
            return WatchedModel(model, role, None, None)
        shutdown, source = min(found)
        return WatchedModel(model, role, shutdown, source)


def _threshold(days_left: int) -> int:
    return next(days for days in WARN_DAYS if days_left <= days)


def _due(watched: WatchedModel, today: date) -> ShutdownWarning | None:
    if watched.shutdown is None or watched.source is None:
        return None
    days_left = (watched.shutdown - today).days
    if not 0 <= days_left <= WARN_DAYS[-1]:
        return None
    return ShutdownWarning(watched.model, watched.role, watched.shutdown, days_left, watched.source)
