"""Turning Slack messages into training examples: what an answer is, what it answered, its votes, its state."""

from __future__ import annotations

from dataclasses import replace

from storage import examples as example_rows
from storage import messages as message_rows
from storage import votes as vote_rows
from storage.db import Database, Transaction
from storage.examples import ExampleRow, NewExample
from storage.states import ExampleState
from tuning.answering.conversation import to_chat
from tuning.capture.feedback_traces import FeedbackTraces
from tuning.capture.members import MemberDirectory
from tuning.ports import SlackReader
from tuning.values import SlackMessage, VoteEvent

# The "reaction" a feedback-button click is logged as: one per person, the newest click standing.
FEEDBACK_BUTTONS = "feedback_buttons"
UP = frozenset({"+1", "thumbsup"})
DOWN = frozenset({"-1", "thumbsdown"})


def vote_direction(reaction: str) -> int | None:
    """+1 for 👍, -1 for 👎 (any skin tone), None for every other reaction."""
    base = reaction.split("::", 1)[0]
    return 1 if base in UP else -1 if base in DOWN else None


def derive_state(example: ExampleRow, up: int, down: int, min_votes: int) -> ExampleState:
    """Approved by enough 👍 (more than 👎), or by an admin; otherwise it waits in review."""
    if example.decided_by:
        return example.state
    if example.corrected is not None:
        return "candidate"  # a teammate's correction waits for an admin's eye
    return "approved" if up >= min_votes and up > down else "candidate"


class Capture:
    def __init__(
        self,
        db: Database,
        members: MemberDirectory,
        *,
        system_prompt: str,
        min_votes: int,
        traces: FeedbackTraces | None = None,
    ) -> None:
        self._db = db
        self._traces = traces
        self._members = members
        self._system_prompt = system_prompt
        self._min_votes = min_votes

    async def on_vote(self, vote: VoteEvent, reader: SlackReader) -> None:
        direction = vote.direction or vote_direction(vote.reaction)
        if direction is None or vote.voter in (reader.bot_user_id, vote.item_user):
            return
        ts = await self.canonical_ts(vote.channel, vote.ts)
        await vote_rows.record_reaction(
            self._db,
            channel=vote.channel,
            ts=ts,
            voter=vote.voter,
            reaction=vote.reaction,
            direction=direction,
            added=vote.added,
            event_ts=vote.event_ts,
            source="button" if vote.is_click else "reaction",
        )
        example = await example_rows.find(self._db, vote.channel, ts)
        if example is None and vote.added:
            example = await self.ensure_example(vote.channel, ts, reader, allow_teammate=direction > 0)
        if example is not None:
            await self.recount(example, reader.bot_user_id)
        if vote.added and self._traces is not None:
            await self._traces.vote(vote.channel, ts, direction)

    async def canonical_ts(self, channel: str, ts: str) -> str:
        """A vote on any part of a split answer counts for the answer's first message."""
        row = await message_rows.get(self._db, channel, ts)
        if row and row.answer_id:
            first = await message_rows.answer_ts(self._db, row.answer_id)
            return first or ts
        return ts

    async def ensure_example(
        self,
        channel: str,
        ts: str,
        reader: SlackReader,
        *,
        allow_teammate: bool = True,
        actor: str | None = None,
        known: tuple[SlackMessage, list[SlackMessage]] | None = None,
    ) -> ExampleRow | None:
        """The example for an answer message, created if needed; None for a message that answers nothing.

        `known` is the message and its thread when the caller already fetched them (harvest).
        """
        existing = await example_rows.find(self._db, channel, ts)
        if existing is not None:
            return existing
        new = await self._describe(channel, ts, reader, known)
        if new is None or (new.source == "teammate_answer" and not allow_teammate):
            return None
        new = await self._scrubbed(new, reader)
        async with self._db.transaction() as tx:
            example_id = await example_rows.create(tx, new, actor=actor)
        return await example_rows.get(self._db, example_id)

    async def recount(self, example: ExampleRow, bot_user_id: str | None) -> None:
        """Recount the votes and move the state, in one transaction so concurrent votes cannot interleave."""
        async with self._db.transaction() as tx:
            await self._recount_in(tx, example, bot_user_id)

    async def _recount_in(self, tx: Transaction, example: ExampleRow, bot_user_id: str | None) -> None:
        exclude = tuple(user for user in (example.author, bot_user_id) if user)
        votes = await vote_rows.tally(tx, example.channel, example.message_ts, exclude=exclude)
        await example_rows.set_votes(tx, example.id, votes.up, votes.down)
        state = derive_state(example, votes.up, votes.down, self._min_votes)
        if state != example.state:
            await example_rows.set_state(tx, example.id, state, action="votes", actor=None, decided_by=None)

    async def _describe(
        self, channel: str, ts: str, reader: SlackReader, known: tuple[SlackMessage, list[SlackMessage]] | None
    ) -> NewExample | None:
        recorded = await self._recorded_answer(channel, ts)
        if recorded is not None:
            return recorded
        message = known[0] if known else await reader.message(channel, ts)
        if message is None or not (message.is_thread_reply and message.user):
            return None  # a thread's root, a top-level message or a deleted one answers nothing
        thread = known[1] if known else await reader.thread(channel, message.thread_ts or message.ts)
        return self._from_thread(message, thread, reader.bot_user_id)

    async def _recorded_answer(self, channel: str, ts: str) -> NewExample | None:
        row = await message_rows.get(self._db, channel, ts)
        if row is None or row.answer_id is None:
            return None
        context = await message_rows.answer_context(self._db, row.answer_id)
        if context is None:
            return None
        return NewExample(
            source="bot_answer",
            team_id=row.team_id,
            channel=channel,
            thread_ts=row.thread_ts,
            message_ts=ts,
            author=row.user_id,
            answer_id=row.answer_id,
            model=context.model,
            conversation=context.request_messages,
            question=_last_user_turn(context.request_messages),
            answer=context.answer_text,
        )

    def _from_thread(
        self, message: SlackMessage, thread: list[SlackMessage], bot_user_id: str | None
    ) -> NewExample | None:
        before = [m for m in thread if float(m.ts) < float(message.ts)]
        conversation = to_chat(self._system_prompt, before, bot_user_id)
        while len(conversation) > 1 and conversation[-1]["role"] == "assistant":
            conversation.pop()  # the answer replaces whatever the bot said after the last question
        if len(conversation) < 2 or not message.text.strip():
            return None
        return NewExample(
            source="bot_answer" if message.is_bot else "teammate_answer",
            team_id=message.team_id,
            channel=message.channel,
            thread_ts=message.thread_ts,
            message_ts=message.ts,
            author=message.user,
            answer_id=None,
            model=None,
            conversation=conversation,
            question=_last_user_turn(conversation),
            answer=message.text.strip(),
        )

    async def _scrubbed(self, new: NewExample, reader: SlackReader) -> NewExample:
        scrubber = await self._members.scrubber(reader)
        conversation = [
            message if message["role"] == "system" else {**message, "content": scrubber.scrub(message["content"])}
            for message in new.conversation
        ]
        return replace(
            new, conversation=conversation, question=_last_user_turn(conversation), answer=scrubber.scrub(new.answer)
        )


def _last_user_turn(conversation: list[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(conversation) if m["role"] == "user"), "")
