"""How many streaming calls Tuneloop may make to Slack, per workspace and method.

Slack rates chat.startStream and chat.stopStream at Tier 2 (about 20 a minute per workspace) and
chat.appendStream at Tier 4 (about 100 a minute), per method per app per workspace
(docs.slack.dev/reference/methods/chat.*Stream and /apis/web-api/rate-limits, read 5 Dec 2026). An answer
asks before it starts a stream (when none is left it is answered by placeholder-and-edit) and paces its
appends by how many answers are streaming at once, so a burst of questions never meets a 429.

`StreamBudget` is the seam: `LocalStreamBudget` keeps the buckets in this process (one process per SQLite
file). `DbStreamBudget` keeps them in the database, so replicas on one PostgreSQL share them: each take is one
statement (storage/rate_buckets.py, reached through the `TakeCall` the composition root gives it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

START, APPEND = "chat.startStream", "chat.appendStream"
PER_MINUTE = {START: 20, APPEND: 100}  # Tier 2 and Tier 4
HEADROOM = 0.9  # keep a tenth for what this budget does not see (retries, a clock's drift)
MIN_APPEND_SECONDS = 1.0  # one append a second per answer at most: enough to look live
log = logging.getLogger(__name__)


class StreamBudget(Protocol):
    async def try_start(self, team: str) -> bool:
        """Take a chat.startStream (and count the stream as open); False when none is left."""

    async def try_append(self, team: str) -> bool:
        """Take a chat.appendStream; False when none is left (the text waits for the next one, or the stop)."""

    def append_every(self, team: str) -> float:
        """Seconds between one answer's appends now: the workspace's appends shared by its open streams."""

    def ended(self, team: str) -> None:
        """A stream counted by try_start is over."""


@dataclass
class _Bucket:
    per_minute: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.per_minute, self.tokens + (now - self.at) * self.per_minute / 60)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class LocalStreamBudget:
    """Token buckets (a minute's calls as the burst, refilled at the tier's rate) held in this process."""

    def __init__(self, per_minute: dict[str, int] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = {m: n * HEADROOM for m, n in (per_minute or PER_MINUTE).items()}
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._open: dict[str, int] = {}

    def _take(self, team: str, method: str) -> bool:
        rate = self._per_minute[method]
        bucket = self._buckets.setdefault((team, method), _Bucket(rate, rate, self._clock()))
        return bucket.take(self._clock())

    async def try_start(self, team: str) -> bool:
        if not self._take(team, START):
            return False
        self._open[team] = self._open.get(team, 0) + 1
        return True

    async def try_append(self, team: str) -> bool:
        return self._take(team, APPEND)

    def append_every(self, team: str) -> float:
        return max(MIN_APPEND_SECONDS, self._open.get(team, 0) * 60 / self._per_minute[APPEND])

    def ended(self, team: str) -> None:
        self._open[team] = max(0, self._open.get(team, 0) - 1)


TakeCall = Callable[[str, str, float, float], Awaitable[bool]]  # (team, method, tokens a minute, now) -> taken


class DbStreamBudget:
    """The buckets in the database, shared by every replica on it (same rates, same headroom as the local one).

    Open streams are counted in this process: they only pace this replica's appends, while the shared append
    bucket is what keeps the workspace under its tier. A database error refuses the call (a placeholder instead
    of a stream, or the text waits for the stop): never a call the budget did not grant."""

    def __init__(
        self, take: TakeCall, per_minute: dict[str, int] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._take_call = take
        self._per_minute = {m: n * HEADROOM for m, n in (per_minute or PER_MINUTE).items()}
        self._clock = clock
        self._open: dict[str, int] = {}

    async def _take(self, team: str, method: str) -> bool:
        try:
            return await self._take_call(team, method, self._per_minute[method], self._clock())
        except Exception:  # noqa: BLE001 - the database briefly unavailable: no call rather than a 429
            log.warning("could not take a %s from the shared budget: not calling it", method, exc_info=True)
            return False

    async def try_start(self, team: str) -> bool:
        if not await self._take(team, START):
            return False
        self._open[team] = self._open.get(team, 0) + 1
        return True

    async def try_append(self, team: str) -> bool:
        return await self._take(team, APPEND)

    def append_every(self, team: str) -> float:
        return max(MIN_APPEND_SECONDS, self._open.get(team, 0) * 60 / self._per_minute[APPEND])

    def ended(self, team: str) -> None:
        self._open[team] = max(0, self._open.get(team, 0) - 1)
