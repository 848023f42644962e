"""A 👎 can say why: a quick reason (wrong, outdated, incomplete, unclear, other) and, optionally, what the
answer should have said. The reason is stored with the vote; the fix becomes a correction draft (a candidate
for an admin to approve, or approved at once when an admin writes it)."""

from __future__ import annotations

from dataclasses import dataclass

from storage import messages as message_rows
from storage import vote_reasons
from storage.db import Database
from storage.vote_reasons import REASONS, Reason
from tuning.capture.corrections import Corrections
from tuning.capture.examples import Capture
from tuning.capture.feedback_traces import FeedbackTraces
from tuning.errors import UsageError
from tuning.ports import SlackReader

MAX_NOTE = 3_000


@dataclass(frozen=True)
class ReasonSaved:
    reason: Reason
    correction_state: str | None  # the drafted correction's state, when a fix was given


class FeedbackReasons:
    def __init__(
        self, db: Database, capture: Capture, corrections: Corrections, traces: FeedbackTraces | None = None
    ) -> None:
        self._db = db
        self._capture = capture
        self._corrections = corrections
        self._traces = traces

    async def thread_of(self, channel: str, ts: str) -> str | None:
        """Where to ask (the answer's thread), when Tuneloop holds the answer."""
        row = await message_rows.get(self._db, channel, ts)
        return row.thread_ts if row else None

    async def record(
        self, *, channel: str, ts: str, voter: str, reason: str, fix: str | None, reader: SlackReader
    ) -> ReasonSaved:
        chosen = next((known for known in REASONS if known == reason), None)
        if chosen is None:
            raise UsageError(f"`{reason[:40]}` is not a reason: pick one of {', '.join(REASONS)}.")
        fix = (fix or "").strip()[:MAX_NOTE] or None
        ts = await self._capture.canonical_ts(channel, ts)
        await vote_reasons.save(self._db, channel=channel, ts=ts, voter=voter, reason=chosen, note=fix)
        if self._traces is not None:
            await self._traces.reason(channel, ts, chosen, fix)
        if fix is None:
            return ReasonSaved(chosen, None)
        example = await self._corrections.submit(channel=channel, ts=ts, corrector=voter, text=fix, reader=reader)
        return ReasonSaved(chosen, example.state)

    async def counts(self) -> dict[str, int]:
        return await vote_reasons.counts(self._db)
