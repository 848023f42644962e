"""Shutdown dates from a provider's own model listing, where it publishes them (tuning.release.lifecycle.retirement.ModelListing).

OpenAI's model object carries `shutdown_date` ("The date when the model will shut down, or null if not
announced": openai-python 3.57 `types/model.py`, generated from OpenAI's OpenAPI spec; docs/lifecycle.md).
Together's listing publishes no such date, so Together models rely on the catalogue alone.
"""

from __future__ import annotations

import logging
from datetime import date

import openai

from tuning.catalogue.entries import Catalogue

log = logging.getLogger(__name__)
OPENAI = "openai"  # the catalogue's provider for the models OpenAI lists


class OpenAIListing:
    def __init__(self, client: openai.AsyncOpenAI, catalogue: Catalogue) -> None:
        self._client = client
        self._catalogue = catalogue

    async def shutdown_date(self, model: str) -> date | None:
        """None when OpenAI does not serve `model`, announces no date, or cannot be asked right now."""
        if self._catalogue.facts(model).provider != OPENAI:
            return None
        try:
            listed = await self._client.models.retrieve(model)
        except openai.APIError as error:
            log.info("no listing for %s: %s", model, error)
            return None
        value = getattr(listed, "shutdown_date", None)
        try:
            return date.fromisoformat(str(value)[:10]) if value else None
        except ValueError:
            log.warning("OpenAI lists %s with an unreadable shutdown_date %r", model, value)
            return None
