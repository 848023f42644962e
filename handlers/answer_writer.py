"""Shows one answer in Slack as the model writes it: a Slack text stream, or a placeholder edited at the end.

Streaming (chat.startStream / appendStream / stopStream through slack_sdk's chat_stream helper) shows the
first words as soon as the model writes them. Where Slack refuses to stream (a workspace or surface without
it), the answer falls back, once, to the placeholder-and-edit it had before, and the channel is remembered.

Only the start of the first part is streamed live (SAFE_PREFIX characters: split_answer never cuts before
that), so what people watched is always the beginning of the final first part; the rest of that part comes
with chat.stopStream, and further parts follow as messages. Every message carries the answer's metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from handlers.posting import post_once, tag
from handlers.slack_io import NOT_A_MEMBER, slack_error
from render import safe_text
from render.answers import (
    PART_LIMIT,
    THINKING,
    answer_message,
    closing_blocks,
    split_answer,
)
from tuning.types import AnswerClaim

log = logging.getLogger(__name__)

ANSWER_EVENT = "tuneloop_answer"
SAFE_PREFIX = PART_LIMIT // 2 - 100
STREAM_BUFFER = 64  # characters per append: small enough for a quick first word, few enough calls
HOLD_BACK = 10  # a `<` or `@` this close to the end may yet become a mention: wait for what follows
# Errors that mean "nowhere to answer" or "try later", not "this channel cannot stream".
_NOT_A_REFUSAL = NOT_A_MEMBER | {"ratelimited", "invalid_auth", "not_authed", "account_inactive", "token_revoked"}


class NowhereToAnswer(Exception):
    """Slack would not take the answer's first message (e.g. the bot left the channel)."""


@dataclass
class StreamRefusal:
    error: str


def answer_tag(answer_id: int, part: int) -> Metadata:
    return tag(ANSWER_EVENT, f"{answer_id}:{part}")


class AnswerWriter:
    """One answer's messages. `start()`, feed `on_text()`, then `finish()` (or `fail()`)."""

    def __init__(self, client: AnswerClient, claim: AnswerClaim, *, stream: bool, on_first_message: OnFirstMessage
                 ) -> None:
        self._client = client.web
        self._on_first_message = on_first_message
        self._claim = claim
        self._streamer: AsyncChatStream | None = None
        self.first_ts = claim.placeholder_ts
        self.refusal: StreamRefusal | None = None
        self._want_stream = stream and self.first_ts is None and claim.post_in_thread is not None
        self._recipient = (client.team_id, client.user_id)
        self._text = ""  # what the model wrote so far
        self._streamed = ""  # the part of it given to the stream

    @property
    def streaming(self) -> bool:
        return self._streamer is not None

    async def start(self) -> str | None:
        """Open the stream, or post the placeholder; returns the first message's ts once it exists."""
        if self._want_stream:
            thread_ts = self._claim.post_in_thread
            assert thread_ts is not None
            self._streamer = await self._client.chat_stream(
                buffer_size=STREAM_BUFFER, channel=self._claim.message.channel, thread_ts=thread_ts,
                recipient_team_id=self._recipient[0], recipient_user_id=self._recipient[1],
            )
            return None
        if self.first_ts is None:
            await self._post_placeholder()
        return self.first_ts

    async def on_text(self, delta: str) -> None:
        """More of the answer: streamed while it is surely part of the first message."""
        self._text += delta
        if self._streamer is None:
            return
        shown = self._text.lstrip()[:SAFE_PREFIX]
        stable = _stable_end(shown)
        if stable <= len(self._streamed):
            return
        piece = shown[len(self._streamed):stable]
        try:
            await self._streamer.append(markdown_text=safe_text.markdown(piece))
        except SlackApiError as error:
            await self._stream_failed(error)
            return
        self._streamed += piece
        if self.first_ts is None and self._streamer.ts:
            self.first_ts = self._streamer.ts
            await self._on_first_message(self.first_ts)

    async def finish(self, final_text: str, note: str | None = None) -> list[str]:
        """Show the final text (split into parts), `note` as a context line under it; returns every message's ts,
        first first."""
        parts = split_answer(final_text)
        first = await self._finish_first(parts[0], last=len(parts) == 1, note=note)
        posted = [first]
        for index, part in enumerate(parts[1:], start=1):
            text, blocks = answer_message(part, last=index == len(parts) - 1, note=note)
            posted.append(await post_once(
                self._client, channel=self._claim.message.channel, thread_ts=self._claim.post_in_thread,
                metadata=answer_tag(self._claim.answer_id, index), text=text, blocks=blocks,
            ))
        return posted

    async def fail(self, text: str) -> None:
        """Replace whatever was shown with an explanation (e.g. the model failed)."""
        ts = await self._end_stream() or self.first_ts or await self._post_placeholder()
        await self._client.chat_update(channel=self._claim.message.channel, ts=ts, text=text, blocks=[])

    async def _finish_first(self, part: str, *, last: bool, note: str | None) -> str:
        streamer = self._streamer
        safe_part, safe_streamed = safe_text.markdown(part), safe_text.markdown(self._streamed)
        if streamer is not None and safe_part.startswith(safe_streamed):
            try:
                await streamer.stop(markdown_text=safe_part[len(safe_streamed):] or None,
                                    blocks=closing_blocks(note) if last else None,
                                    metadata=answer_tag(self._claim.answer_id, 0))
            except SlackApiError as error:  # refused before anything showed, or the stream expired
                if streamer.ts is None:
                    await self._stream_failed(error)
                else:
                    log.warning("could not stop the stream of answer %s: %s", self._claim.answer_id,
                                slack_error(error))
            else:
                assert streamer.ts is not None
                if self.first_ts is None:
                    self.first_ts = streamer.ts
                    await self._on_first_message(streamer.ts)
                return streamer.ts
        ts = await self._end_stream() or self.first_ts or await self._post_placeholder()
        text, blocks = answer_message(part, last=last, note=note)
        await self._client.chat_update(channel=self._claim.message.channel, ts=ts, text=text, blocks=blocks,
                                       metadata=answer_tag(self._claim.answer_id, 0))
        return ts

    async def _end_stream(self) -> str | None:
        """Stop a stream that is open, keeping its message to edit; its ts, or None if none was shown."""
        streamer, self._streamer = self._streamer, None
        if streamer is None or streamer.ts is None:
            return None
        try:
            await streamer.stop()
        except SlackApiError as error:
            log.info("stream of answer %s already ended: %s", self._claim.answer_id, slack_error(error))
        return streamer.ts

    async def _stream_failed(self, error: SlackApiError) -> None:
        """Slack refused the stream: fall back to the placeholder now (and, if it is a refusal, for good)."""
        code = slack_error(error)
        started = self._streamer is not None and self._streamer.ts is not None
        self._streamer = None
        if code in NOT_A_MEMBER and not started:
            raise NowhereToAnswer(code) from error
        if not started and code not in _NOT_A_REFUSAL:
            self.refusal = StreamRefusal(code)
        if self.first_ts is None:
            await self._post_placeholder()

    async def _post_placeholder(self) -> str:
        try:
            ts = await post_once(self._client, channel=self._claim.message.channel, thread_ts=self._claim.post_in_thread,
                                 metadata=answer_tag(self._claim.answer_id, 0), text=THINKING)
        except SlackApiError as error:
            raise NowhereToAnswer(slack_error(error)) from error
        self.first_ts = ts
        await self._on_first_message(ts)
        return ts


OnFirstMessage = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class AnswerClient:
    """The Web API client, and who the stream is for (Slack requires the recipient in channels)."""

    web: AsyncWebClient
    team_id: str | None
    user_id: str | None


def _stable_end(text: str) -> int:
    """How much of `text` can be shown now: not trailing blanks (the final text is stripped), nor a trailing
    `<` or `@` that might yet start a mention."""
    text = text.rstrip()
    tail_start = max(0, len(text) - HOLD_BACK)
    risky = [i for i in (text.find("<", tail_start), text.find("@", tail_start)) if i >= 0]
    return min(risky, default=len(text))
