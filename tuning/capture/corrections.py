"""Corrections: the edited text becomes the answer to train on, the original the rejected side of a pair."""

from __future__ import annotations

import hashlib

from storage import examples as example_rows
from storage import messages as message_rows
from storage.db import Database
from storage.states import ExampleState
from tuning.capture.examples import Capture
from tuning.capture.feedback_traces import FeedbackTraces
from tuning.capture.members import MemberDirectory
from tuning.capture.review import view
from tuning.errors import NotAdmin, NotFound, TuningError
from tuning.ports import SlackReader
from tuning.values import CorrectionDraft, ExampleView, SlackMessage


def fingerprint(text: str) -> str:
    """Identifies the text the modal opened with, so an unchanged submission can be told apart."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def problem_with(new_text: str, original_fingerprint: str) -> str | None:
    """The field error for a submission, or None when it can be stored."""
    if not new_text.strip():
        return "Write the answer it should have given."
    if fingerprint(new_text) == original_fingerprint:
        return "This is the same as the original answer: change it, or cancel."
    return None


class Corrections:
    def __init__(
        self,
        db: Database,
        capture: Capture,
        members: MemberDirectory,
        admins: frozenset[str],
        traces: FeedbackTraces | None = None,
    ) -> None:
        self._db = db
        self._traces = traces
        self._capture = capture
        self._members = members
        self._admins = admins

    async def draft(self, message: SlackMessage, reader: SlackReader) -> CorrectionDraft:
        """What the modal shows: the full answer's text and, for a reply, the question it answered."""
        ts = await self._capture.canonical_ts(message.channel, message.ts)
        text = await self._full_text(message.channel, ts) or message.text
        answers_something = message.is_thread_reply or message.is_bot
        if not answers_something or not text.strip():
            raise TuningError("Only answers can be corrected: pick the bot's answer or a reply in a thread.")
        question = None
        if message.is_thread_reply:
            thread = await reader.thread(message.channel, message.thread_ts or message.ts)
            earlier = [m for m in thread if float(m.ts) < float(message.ts) and not m.is_bot and m.text.strip()]
            question = earlier[-1].text if earlier else None
        return CorrectionDraft(
            channel=message.channel, ts=ts, original=text, question=question, fingerprint=fingerprint(text)
        )

    async def _full_text(self, channel: str, ts: str) -> str | None:
        row = await message_rows.get(self._db, channel, ts)
        if row and row.answer_id:
            context = await message_rows.answer_context(self._db, row.answer_id)
            return context.answer_text if context else None
        return None

    async def submit(self, *, channel: str, ts: str, corrector: str, text: str, reader: SlackReader) -> ExampleView:
        example = await self._capture.ensure_example(channel, ts, reader, actor=corrector)
        if example is None:
            raise NotFound("That message is no longer there, or it does not answer a question.")
        return await self.correct(example.id, corrector=corrector, text=text, reader=reader)

    async def correct(self, example_id: int, *, corrector: str, text: str, reader: SlackReader) -> ExampleView:
        """Store a correction; an admin's approves the example, anyone else's sends it to review.

        An approved example, or one an admin has decided, is training data someone vouched for: only an admin
        may change it. Anyone else's correction is refused (the modal says whom to ask) and changes nothing."""
        existing = await example_rows.get(self._db, example_id)
        if existing is None:
            raise NotFound(f"Example {example_id} does not exist any more.")
        if corrector not in self._admins and (existing.state == "approved" or existing.decided_by):
            raise NotAdmin("change an answer that is already approved (or decided) for training", self._admins)
        scrubbed = (await self._members.scrubber(reader)).scrub(text.strip())
        is_admin = corrector in self._admins
        state: ExampleState = "approved" if is_admin else "candidate"
        async with self._db.transaction() as tx:
            await example_rows.add_correction(tx, example_id, corrector, scrubbed)
            await example_rows.set_state(
                tx, example_id, state, action="corrected", actor=corrector, decided_by=corrector if is_admin else None
            )
        example = await example_rows.get(self._db, example_id)
        assert example is not None
        if self._traces is not None:
            await self._traces.correction(example.answer_id, scrubbed)
        return view(example)
