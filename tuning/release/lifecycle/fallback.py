"""Never dark: when the answering model no longer exists at its provider, answer with the one before it.

Only "this model does not exist" counts: `ModelGone`, which the chat adapter (providers/chat.py) raises for
HTTP 404 or the error code `model_not_found`, as OpenAI and OpenAI-compatible hosts answer for a retired or
unknown model. Rate limits, 5xx and timeouts are transient:
they keep the :warning: reply and change nothing.
"""

from __future__ import annotations

import asyncio
import logging

from tuning.errors import ModelError, ModelGone
from tuning.release.lifecycle.canary import CanaryService
from tuning.release.lifecycle.notices import Announcements
from tuning.release.promotion import Promotions

log = logging.getLogger(__name__)


class Fallback:
    def __init__(self, promotions: Promotions, canary: CanaryService, announcements: Announcements) -> None:
        self._promotions = promotions
        self._canary = canary
        self._announcements = announcements
        self._lock = asyncio.Lock()  # answers failing together switch once

    async def replace(self, model: str, error: ModelError) -> str | None:
        """The model to answer with instead of `model`, or None to fail as today."""
        if not isinstance(error, ModelGone):
            return None
        reason = error.provider_error
        async with self._lock:
            if await self._canary.drop_if(model, reason):
                return await self._promotions.current()
            change = await self._promotions.fall_back(model, error=reason)
            if change is None:
                current = await self._promotions.current()
                return current if current != model else None
            log.warning("answering model %s is gone (%s): answering with %s", model, reason, change.model)
        await self._announcements.once(
            f"fallback:{change.id}", lambda channel: self._announcements.publisher.fell_back(channel, model, change)
        )
        return change.model
