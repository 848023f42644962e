"""Which client answers for which model, and the one limit on calls in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from tuning.errors import TuningError
from tuning.values import ChatReply


class ChatLike(Protocol):
    """The part of tuning.ports.ChatModel an evaluation uses (a batch never streams): providers.chat.ChatClient,
    or a test's fake. Raises ModelError (a TuningError) when no answer comes."""

    async def complete(
        self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None
    ) -> ChatReply: ...


# A Together model answers at another OpenAI-compatible endpoint than an OpenAI model, so each
# model names its own client: a mapping, or a function for clients built on demand.
Clients = Mapping[str, ChatLike] | Callable[[str], ChatLike]


def client_for(clients: Clients, model: str) -> ChatLike:
    if isinstance(clients, Mapping):
        if model not in clients:
            raise TuningError(f"No API client is configured for model `{model}`.")
        return clients[model]
    return clients(model)


class Limited:
    """A client whose calls wait for a slot of a semaphore shared by every model and the judge.

    The slot is held through the SDK's own retries: while a provider says 429, waiting in place
    (after Retry-After) is the point, and starting other calls would only earn more 429s.
    """

    def __init__(self, client: ChatLike, slots: asyncio.Semaphore) -> None:
        self._client = client
        self._slots = slots

    async def complete(self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> ChatReply:
        async with self._slots:
            return await self._client.complete(model, messages, max_tokens=max_tokens)
