"""What the domain needs from Slack, implemented by handlers (tuning never imports a Slack client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from tuning.types import Member, SlackMessage


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
