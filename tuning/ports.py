"""What the domain needs from the outside world, as protocols. The domain imports these, never an SDK
or a Slack client; others implement them and bot/ (the composition root) wires them:

- `SlackReader`: reading Slack (implemented in handlers/slack_reader.py)
- `ChatModel`: answering a conversation (providers.chat.ChatClient over any OpenAI-compatible API)
- `Trainer`: a fine-tuning back-end (defined with its values in tuning/training/trainers/; implemented by
  providers.openai_trainer and providers.together_trainer)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, runtime_checkable

from tuning.training.trainers.base import Trainer
from tuning.values import ChatReply, Member, SlackMessage

__all__ = ["ChatModel", "SlackReader", "Trainer"]


class SlackReader(Protocol):
    bot_user_id: str | None

    async def message(self, channel: str, ts: str) -> SlackMessage | None:
        """One message, wherever it is (top level or in a thread); None if it is gone."""

    async def thread(self, channel: str, thread_ts: str) -> list[SlackMessage]:
        """The root and every reply, oldest first."""

    def history(self, channel: str, oldest: float) -> AsyncIterator[list[SlackMessage]]:
        """Top-level messages since `oldest`, a page at a time."""

    async def channel_id(self, name: str) -> str | None:
        """The id of a channel written by name."""

    async def members(self) -> list[Member]:
        """Everyone in the workspace, for scrubbing their names."""


OnText = Callable[[str], Awaitable[None]]  # called with each piece of a streamed answer


@runtime_checkable
class ServesAdapters(Protocol):
    """A model server that answers LoRA adapters on one base model (TUNELOOP_SERVE_URL)."""

    async def check_base(self, base_model: str) -> None:
        """Raise TuningError, saying what is served instead, when `base_model` is not the served base."""


class ChatModel(Protocol):
    """One chat completion; raises `tuning.errors.ModelError` (a TuningError) when no answer comes."""

    async def complete(
        self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None
    ) -> ChatReply: ...

    async def stream(self, model: str, messages: list[dict[str, str]], on_text: OnText) -> ChatReply:
        """Like complete(), calling `on_text` with each piece of text as the model writes it."""
