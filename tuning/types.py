"""Plain domain values passed between handlers and services."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class SlackMessage(_Value):
    """A message as the handlers saw it, reduced to what the domain needs."""

    team_id: str | None = None
    channel: str
    ts: str
    thread_ts: str | None = None
    user: str | None = None
    text: str = ""
    is_bot: bool = False
    is_dm: bool = False
    mentions_bot: bool = False

    @property
    def reply_thread(self) -> str:
        """The thread an answer goes to: the message's own thread, or a new one under it."""
        return self.thread_ts or self.ts


class ChatReply(_Value):
    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int
    request_messages: list[dict[str, str]]


class AnswerClaim(_Value):
    """The right to answer one question, with the placeholder already posted if this is a resume."""

    answer_id: int
    message: SlackMessage
    model: str
    placeholder_ts: str | None = None

    @property
    def post_in_thread(self) -> str | None:
        """DMs are answered directly, unless the person wrote inside a DM thread."""
        if self.message.is_dm:
            return self.message.thread_ts
        return self.message.reply_thread
