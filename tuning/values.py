"""Plain domain values passed between handlers and services."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from storage.states import ExampleSource, ExampleState


@dataclass(frozen=True)
class ChannelRef:
    """A channel as written in a command: its id (`<#C…>`), or only its name (`#general`)."""

    id: str | None
    name: str | None

    def __str__(self) -> str:
        return f"#{self.name}" if self.name else f"<#{self.id}>"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class Reaction(_Value):
    name: str
    users: tuple[str, ...] = ()


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
    reply_count: int = 0
    reactions: tuple[Reaction, ...] = ()

    @property
    def is_thread_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

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
    # A resume whose first message was never recorded (its replica died between Slack's reply and the write):
    # the thread is searched for it, skipping the first messages of the thread's other answers.
    lost_first_message: bool = False
    other_answers_ts: frozenset[str] = frozenset()

    @property
    def post_in_thread(self) -> str | None:
        """DMs are answered directly, unless the person wrote inside a DM thread."""
        if self.message.is_dm:
            return self.message.thread_ts
        return self.message.reply_thread


class Member(_Value):
    user_id: str
    name: str = ""
    real_name: str = ""
    display_name: str = ""


class VoteEvent(_Value):
    """A 👍/👎 reaction added or removed, or a click on an answer's feedback buttons, as Slack reported it.

    A click carries its `direction` (and the reaction name `feedback_buttons`); a reaction's comes from its name."""

    channel: str
    ts: str
    voter: str
    reaction: str
    added: bool
    event_ts: str
    item_user: str | None = None
    direction: int | None = None

    @property
    def is_click(self) -> bool:
        return self.direction is not None


class CorrectionDraft(_Value):
    """What the "Correct this answer" modal opens with."""

    channel: str
    ts: str
    original: str
    question: str | None = None
    fingerprint: str


class ExampleView(_Value):
    """An example as people see it in review and stats."""

    id: int
    source: ExampleSource
    state: ExampleState
    channel: str
    thread_ts: str | None
    message_ts: str
    author: str | None
    question: str
    answer: str
    corrected: str | None
    up_votes: int
    down_votes: int
    why_down: tuple[tuple[str, str | None], ...] = ()  # (reason, note) of each standing 👎 that said why


class HarvestReport(BaseModel):
    channel: str
    threads_scanned: int = 0
    replies_scanned: int = 0
    added: int = 0
    skipped: dict[str, int] = {}
    finished: bool = False

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class Stats(_Value):
    by_state: dict[str, int]
    by_source: dict[str, int]
    by_channel: dict[str, dict[str, int]]
    contributors: list[tuple[str, int]]
    down_reasons: dict[str, int] = {}  # why 👎, over every answer


class Activity(_Value):
    at: str
    action: str
    actor: str | None
    example_id: int
    state: ExampleState
