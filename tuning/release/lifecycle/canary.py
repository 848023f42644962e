"""The canary: a candidate answers a share of new threads, and the team's feedback decides.

A thread's model is a stable hash of channel and thread: a conversation never switches model while the
canary runs, and over many threads the candidate's share is the one asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from storage import lifecycle as lifecycle_rows
from storage.db import Database
from storage.lifecycle import AnswerFeedback
from storage.lifecycle import CanaryRow as CanaryRow  # a canary report's row, for render (which sees no storage)
from tuning.admin import require_admin
from tuning.answering.routing import ModelRouter
from tuning.catalogue.entries import Catalogue
from tuning.errors import TuningError
from tuning.release.evaluation.cost import cost_per_thousand
from tuning.release.evaluation.metrics import mean, percentile, wilson_interval
from tuning.release.promotion import ModelChange, Promotions
from tuning.words import command

DEFAULT_SHARE = 0.2


def in_canary(channel: str, thread_ts: str, share: float) -> bool:
    """True for about `share` of all threads, always the same answer for the same thread."""
    digest = hashlib.sha256(f"{channel}:{thread_ts}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True)
class LiveStats:
    model: str
    answers: int
    up: int
    down: int
    corrections: int
    up_rate: float | None  # 👍 / (👍 + 👎)
    up_low: float | None
    up_high: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_per_1k_usd: float | None


@dataclass(frozen=True)
class CanaryReport:
    canary: CanaryRow
    current: LiveStats
    candidate: LiveStats


def live_stats(model: str, answers: list[AnswerFeedback], catalogue: Catalogue) -> LiveStats:
    up, down = sum(a.up for a in answers), sum(a.down for a in answers)
    interval = wilson_interval(up, up + down)
    latencies = [float(a.latency_ms) for a in answers if a.latency_ms is not None]
    return LiveStats(
        model=model,
        answers=len(answers),
        up=up,
        down=down,
        corrections=sum(a.corrections for a in answers),
        up_rate=up / (up + down) if up + down else None,
        up_low=interval[0] if interval else None,
        up_high=interval[1] if interval else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        cost_per_1k_usd=cost_per_thousand(
            catalogue.inference_price(model),
            mean([float(a.prompt_tokens) for a in answers if a.prompt_tokens is not None]),
            mean([float(a.completion_tokens) for a in answers if a.completion_tokens is not None]),
        ),
    )


class CanaryService:
    def __init__(
        self,
        db: Database,
        promotions: Promotions,
        router: ModelRouter,
        *,
        admins: frozenset[str],
        catalogue: Callable[[], Catalogue],
    ) -> None:
        self._db = db
        self._promotions = promotions
        self._router = router
        self._admins = admins
        self._catalogue = catalogue

    async def running(self) -> CanaryRow | None:
        return await lifecycle_rows.running_canary(self._db)

    async def model_for(self, channel: str, thread_ts: str) -> str:
        """The model that answers in this thread."""
        current = await self._promotions.current()
        canary = await self.running()
        if canary is None or canary.model == current:
            return current
        first = await lifecycle_rows.first_answer_model(self._db, channel, thread_ts)
        if first is not None:  # an ongoing conversation keeps its model; one from before the canary stays current
            return first if first == canary.model else current
        return canary.model if in_canary(channel, thread_ts, canary.share) else current

    async def start(self, model: str, *, share: float | None, user: str) -> CanaryRow:
        require_admin(user, self._admins, "start a canary")
        running = await self.running()
        if running is not None:
            raise TuningError(f"A canary of `{running.model}` is running already: {command('canary stop')} it first.")
        if model == await self._promotions.current():
            raise TuningError(f"`{model}` already answers every thread: a canary needs a different model.")
        await self._router.ping(model)
        await lifecycle_rows.start_canary(self._db, model=model, share=share or DEFAULT_SHARE, user=user)
        return await self._require_running()

    async def stop(self, *, user: str) -> CanaryRow:
        require_admin(user, self._admins, "stop the canary")
        canary = await self._require_running()
        await lifecycle_rows.stop_canary(self._db, canary.id, user=user, outcome="stopped")
        return canary

    async def promote(self, *, user: str, channel: str | None) -> ModelChange:
        """Through the promotion gate, like a promotion by name; the canary ends when it passes."""
        require_admin(user, self._admins, "promote the canary")
        canary = await self._require_running()
        change = await self._promotions.promote(canary.model, user=user, channel=channel)
        await lifecycle_rows.stop_canary(self._db, canary.id, user=user, outcome="promoted")
        return change

    async def drop_if(self, model: str, reason: str) -> bool:
        """The canary's model is gone at its provider: stop the canary so its threads go back to the current model."""
        canary = await self.running()
        if canary is None or canary.model != model:
            return False
        await lifecycle_rows.stop_canary(self._db, canary.id, user="tuneloop", outcome="stopped")
        return True

    async def report(self) -> CanaryReport | None:
        canary = await self.running()
        if canary is None:
            return None
        catalogue = self._catalogue()
        current = await self._promotions.current()

        async def stats(model: str) -> LiveStats:
            return live_stats(model, await lifecycle_rows.answers_since(self._db, model, canary.started_at), catalogue)

        return CanaryReport(canary, await stats(current), await stats(canary.model))

    async def _require_running(self) -> CanaryRow:
        canary = await self.running()
        if canary is None:
            raise TuningError(f"No canary is running. Start one with {command('canary MODEL share:20%')}.")
        return canary
