"""Never dark: when the answering model no longer exists at its provider, answer with the one before it.

Only "this model does not exist" counts (HTTP 404, or the error code `model_not_found`, as OpenAI and
OpenAI-compatible hosts answer for a retired or unknown model). Rate limits, 5xx and timeouts are transient:
they keep the :warning: reply and change nothing.
"""

from __future__ import annotations

import asyncio
import logging

import openai

from tuning.errors import ModelError
from tuning.lifecycle.canary import CanaryService
from tuning.lifecycle.notices import Announcements
from tuning.promotion import Promotions

log = logging.getLogger(__name__)
GONE_CODES = frozenset({"model_not_found"})


def provider_error(error: ModelError) -> str | None:
    """The provider's own words for a model that is gone; None for any other failure."""
    cause = error.__cause__
    if not isinstance(cause, openai.APIStatusError):
        return None
    code = getattr(cause, "code", None)
    if cause.status_code != 404 and code not in GONE_CODES:
        return None
    return f"HTTP {cause.status_code}" + (f" {code}" if code else "") + f": {cause.message}"


class Fallback:
    def __init__(self, promotions: Promotions, canary: CanaryService, announcements: Announcements) -> None:
        self._promotions = promotions
        self._canary = canary
        self._announcements = announcements
        self._lock = asyncio.Lock()  # answers failing together switch once

    async def replace(self, model: str, error: ModelError) -> str | None:
        """The model to answer with instead of `model`, or None to fail as today."""
        reason = provider_error(error)
        if reason is None:
            return None
        async with self._lock:
            if await self._canary.drop_if(model, reason):
                return await self._promotions.current()
            change = await self._promotions.fall_back(model, error=reason)
            if change is None:
                current = await self._promotions.current()
                return current if current != model else None
            log.warning("answering model %s is gone (%s): answering with %s", model, reason, change.model)
        await self._announcements.once(
            f"fallback:{change.id}", lambda channel: self._announcements.publisher.fell_back(channel, model, change))
        return change.model
