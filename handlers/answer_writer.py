"""Shows one answer in Slack as the model writes it: a Slack text stream, or a placeholder edited at the end.

Streaming (chat.startStream / appendStream / stopStream through slack_sdk's chat_stream helper) shows the
first words as soon as the model writes them; after that the text is appended in batches, one call every
second or so per answer (fewer when many answers stream at once: stream_budget.py), from a task of its own,
so a slow or rate-limited Slack never holds up reading the model. Where the workspace's budget for new
streams is spent, or Slack refuses to stream, the answer is a placeholder edited at the end.

A stream that fails midway is stopped (chat.stopStream) and the message then edited into the full answer;
whatever Slack answers to those, the answer is recorded. Errors are classified by stream_errors.py.

Only the start of the first part is streamed live (SAFE_PREFIX characters: split_answer never cuts before
that), so what people watched is always the beginning of the final first part; the rest of that part comes
with chat.stopStream, and further parts follow as messages. Every message carries the answer's metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from handlers.posting import post_once, tag
from handlers.slack_io import slack_error
from handlers.stream_budget import LocalStreamBudget, StreamBudget
from handlers.stream_errors import StreamFailure, classify
from render import safe_text
from render.answers import (
    PART_LIMIT,
    THINKING,
    answer_message,
    closing_blocks,
    split_answer,
)
from tuning.values import AnswerClaim

log = logging.getLogger(__name__)

ANSWER_EVENT = "tuneloop_answer"
SAFE_PREFIX = PART_LIMIT // 2 - 100
HOLD_BACK = 10  # a `<` or `@` this close to the end may yet become a mention: wait for what follows


class NowhereToAnswer(Exception):
    """Slack would not take the answer's first message (e.g. the bot left the channel)."""


@dataclass(frozen=True)
class StreamProblem:
    """Why streaming failed: `kind` says what it means beyond this answer (stream_errors.py)."""

    error: str
    kind: StreamFailure


def answer_tag(answer_id: int, part: int) -> Metadata:
    return tag(ANSWER_EVENT, f"{answer_id}:{part}")


class AnswerWriter:
    """One answer's messages. `start()`, feed `on_text()`, then `finish()` (or `fail()`)."""

    def __init__(
        self, client: AnswerClient, claim: AnswerClaim, *, stream: bool, on_first_message: OnFirstMessage
    ) -> None:
        self._client = client.web
        self._budget = client.budget
        self._team = client.team_id or claim.message.team_id or ""
        self._on_first_message = on_first_message
        self._claim = claim
        self._streamer: AsyncChatStream | None = None
        self._pump: asyncio.Task[None] | None = None
        self._more = asyncio.Event()  # the model wrote more, or the answer is complete
        self._complete = False
        self._counted = False  # this answer's stream counts in the budget's open streams
        self._broken = False  # a stream call failed after the stream showed: stop it, then edit
        self.first_ts = claim.placeholder_ts
        self.problem: StreamProblem | None = None
        self._want_stream = stream and self.first_ts is None and claim.post_in_thread is not None
        self._recipient = (client.team_id, client.user_id)
        self._text = ""  # what the model wrote so far
        self._streamed = ""  # the part of it Slack took into the stream

    @property
    def streaming(self) -> bool:
        return self._streamer is not None

    async def start(self) -> str | None:
        """Open the stream (its first call waits for the first words), or post the placeholder; returns the
        first message's ts once it exists."""
        if self._want_stream and await self._budget.try_start(self._team):
            self._counted = True
            thread_ts = self._claim.post_in_thread
            assert thread_ts is not None
            # buffer_size=1: every append() is one call; _pump decides when to make one.
            self._streamer = await self._client.chat_stream(
                buffer_size=1,
                channel=self._claim.message.channel,
                thread_ts=thread_ts,
                recipient_team_id=self._recipient[0],
                recipient_user_id=self._recipient[1],
            )
            self._pump = asyncio.create_task(self._send_as_written(self._streamer))
            return None
        if self.first_ts is None:
            await self._post_placeholder()
        return self.first_ts

    async def on_text(self, delta: str) -> None:
        """More of the answer: never waits on Slack (the pump sends it)."""
        self._text += delta
        self._more.set()
        if self.problem is not None and self.problem.kind is StreamFailure.NOWHERE:
            raise NowhereToAnswer(self.problem.error)

    async def _send_as_written(self, streamer: AsyncChatStream) -> None:
        """The first words at once, then a batch every `append_every` seconds, until the answer is complete."""
        last_sent = 0.0
        loop = asyncio.get_running_loop()
        while not self._complete:
            await self._more.wait()
            self._more.clear()
            if self._complete:
                return
            piece = self._unsent()
            if not piece:
                continue
            if streamer.ts is not None:  # not the first words: wait for this answer's turn, if there is one
                if not await self._await_turn(last_sent):
                    return
                piece = self._unsent()
                if not piece:
                    continue
                if not await self._budget.try_append(self._team):
                    last_sent = loop.time()
                    self._more.set()
                    continue
            try:
                await streamer.append(markdown_text=safe_text.markdown(piece))
            except SlackApiError as error:
                self._stream_failed(error)
                return
            last_sent = loop.time()
            self._streamed += piece
            if self.first_ts is None and streamer.ts:
                self.first_ts = streamer.ts
                await self._on_first_message(self.first_ts)

    async def _await_turn(self, last_sent: float) -> bool:
        """Wait until this answer may append again (the budget's interval); False once the answer is complete."""
        wait = last_sent + self._budget.append_every(self._team) - asyncio.get_running_loop().time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._until_complete(), wait)
        return not self._complete

    async def _until_complete(self) -> None:
        while not self._complete:
            await self._more.wait()
            self._more.clear()

    def _unsent(self) -> str:
        """What can be streamed now and was not yet: within the live prefix, not a mention in the making."""
        shown = self._text.lstrip()[:SAFE_PREFIX]
        return shown[len(self._streamed) : _stable_end(shown)]

    async def _written(self) -> None:
        """The model is done: let the pump finish the call it is making (its text must be counted)."""
        self._complete = True
        self._more.set()
        if self._pump is not None:
            await self._pump
        if self.problem is not None and self.problem.kind is StreamFailure.NOWHERE:
            raise NowhereToAnswer(self.problem.error)

    async def finish(self, final_text: str, note: str | None = None) -> list[str]:
        """Show the final text (split into parts), `note` as a context line under it; returns every message's ts,
        first first."""
        await self._written()
        parts = split_answer(final_text)
        first = await self._finish_first(parts[0], last=len(parts) == 1, note=note)
        posted = [first]
        for index, part in enumerate(parts[1:], start=1):
            text, blocks = answer_message(part, last=index == len(parts) - 1, note=note)
            try:
                posted.append(
                    await post_once(
                        self._client,
                        channel=self._claim.message.channel,
                        thread_ts=self._claim.post_in_thread,
                        metadata=answer_tag(self._claim.answer_id, index),
                        text=text,
                        blocks=blocks,
                    )
                )
            except SlackApiError as error:  # the answer is recorded with the parts Slack took
                log.warning("part %d of answer %s not posted: %s", index, self._claim.answer_id, slack_error(error))
                break
        return posted

    async def fail(self, text: str) -> None:
        """Replace whatever was shown with an explanation (e.g. the model failed)."""
        with contextlib.suppress(NowhereToAnswer):
            await self._written()
        ts = await self._end_stream() or self.first_ts or await self._post_placeholder()
        await self._edit(ts, text=text, blocks=[])

    async def _finish_first(self, part: str, *, last: bool, note: str | None) -> str:
        streamer = self._streamer
        safe_part, safe_streamed = safe_text.markdown(part), safe_text.markdown(self._streamed)
        if streamer is not None and not self._broken and safe_part.startswith(safe_streamed):
            try:
                await streamer.stop(
                    markdown_text=safe_part[len(safe_streamed) :] or None,
                    blocks=closing_blocks(note) if last else None,
                    metadata=answer_tag(self._claim.answer_id, 0),
                )
            except SlackApiError as error:  # refused before anything showed, or failed or expired midway
                self._stream_failed(error)
                if self.problem is not None and self.problem.kind is StreamFailure.NOWHERE:
                    raise NowhereToAnswer(self.problem.error) from error
            else:
                self._stream_over()
                assert streamer.ts is not None
                if self.first_ts is None:
                    self.first_ts = streamer.ts
                    await self._on_first_message(streamer.ts)
                return streamer.ts
        ts = await self._end_stream() or self.first_ts or await self._post_placeholder()
        text, blocks = answer_message(part, last=last, note=note)
        await self._edit(ts, text=text, blocks=blocks, metadata=answer_tag(self._claim.answer_id, 0))
        return ts

    async def _edit(self, ts: str, **message: object) -> None:
        """chat.update the answer's first message; a refusal is logged, the answer is still recorded."""
        try:
            await self._client.chat_update(channel=self._claim.message.channel, ts=ts, **message)  # type: ignore[arg-type]
        except SlackApiError as error:
            log.warning(
                "answer %s could not be edited in (%s): recorded all the same",
                self._claim.answer_id,
                slack_error(error),
            )

    async def _end_stream(self) -> str | None:
        """Stop a stream that is open (chat.stopStream), keeping its message to edit; its ts, or None if none
        was shown."""
        streamer, self._streamer = self._streamer, None
        self._stream_over()
        if streamer is None or streamer.ts is None:
            return None
        try:
            await streamer.stop()
        except SlackApiError as error:
            log.info("stream of answer %s already ended: %s", self._claim.answer_id, slack_error(error))
        return streamer.ts

    def _stream_over(self) -> None:
        """The stream no longer counts against the workspace's budget (once)."""
        if self._counted:
            self._counted = False
            self._budget.ended(self._team)

    def close(self) -> None:
        """However the answer ended (even by an exception): no pump left waiting, the stream uncounted."""
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        self._stream_over()

    def _stream_failed(self, error: SlackApiError) -> None:
        """Slack did not take a stream call: what it means is classified; the message is fixed at the end."""
        code = slack_error(error)
        started = self._streamer is not None and self._streamer.ts is not None
        kind = classify(code)
        if started and kind is not StreamFailure.NOWHERE:
            kind = StreamFailure.PASSING  # it did stream here: whatever went wrong is not the channel's type
        log.info("stream of answer %s failed (%s, %s)", self._claim.answer_id, code, kind.value)
        self.problem = StreamProblem(code, kind)
        self._broken = started
        if not started:
            self._stream_over()
            self._streamer = None

    async def _post_placeholder(self) -> str:
        try:
            ts = await post_once(
                self._client,
                channel=self._claim.message.channel,
                thread_ts=self._claim.post_in_thread,
                metadata=answer_tag(self._claim.answer_id, 0),
                text=THINKING,
            )
        except SlackApiError as error:
            raise NowhereToAnswer(slack_error(error)) from error
        self.first_ts = ts
        await self._on_first_message(ts)
        return ts


OnFirstMessage = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class AnswerClient:
    """The Web API client, who the stream is for (Slack requires the recipient in channels), and the
    workspace's budget of streaming calls."""

    web: AsyncWebClient
    team_id: str | None
    user_id: str | None
    budget: StreamBudget = dataclasses.field(default_factory=LocalStreamBudget)


def _stable_end(text: str) -> int:
    """How much of `text` can be shown now: not trailing blanks (the final text is stripped), nor a trailing
    `<` or `@` that might yet start a mention."""
    text = text.rstrip()
    tail_start = max(0, len(text) - HOLD_BACK)
    risky = [i for i in (text.find("<", tail_start), text.find("@", tail_start)) if i >= 0]
    return min(risky, default=len(text))
