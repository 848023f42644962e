"""Votes and corrections on the bot's answers, sent to the answer's trace as `gen_ai.evaluation.result`.

Only when tracing is on (tuning.telemetry.enabled()): otherwise nothing is read or sent.
"""

from __future__ import annotations

from storage import answers as answer_rows
from storage import messages as message_rows
from storage.db import Database
from tuning import telemetry


class FeedbackTraces:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def vote(self, channel: str, ts: str, direction: int) -> None:
        """A 👍 (+1) or 👎 (-1), by reaction or button, on a message of an answer."""
        await self._send(
            channel,
            ts,
            telemetry.Feedback(
                name="thumbs", score=float(direction), label="thumbs_up" if direction > 0 else "thumbs_down"
            ),
        )

    async def correction(self, answer_id: int | None, text: str) -> None:
        if answer_id is not None:
            await self._send_for(
                answer_id, telemetry.Feedback(name="correction", score=None, label="corrected", explanation=text)
            )

    async def reason(self, channel: str, ts: str, reason: str, text: str | None) -> None:
        """Why a 👎: one of the quick reasons, and the person's words if they wrote some."""
        await self._send(
            channel, ts, telemetry.Feedback(name="thumbs_down_reason", score=None, label=reason, explanation=text)
        )

    async def _send(self, channel: str, ts: str, feedback: telemetry.Feedback) -> None:
        if not telemetry.enabled():
            return
        row = await message_rows.get(self._db, channel, ts)
        if row is not None and row.answer_id is not None:
            await self._send_for(row.answer_id, feedback)

    async def _send_for(self, answer_id: int, feedback: telemetry.Feedback) -> None:
        if not telemetry.enabled():
            return
        ids = await answer_rows.trace_of(self._db, answer_id)
        answer = await answer_rows.get(self._db, answer_id)
        if ids is not None:
            telemetry.record_feedback(
                telemetry.TraceRef(ids.trace_id, ids.span_id), feedback, model=answer.model if answer else None
            )
