"""Quality alerts: tell the announcement channel when answers get worse beyond noise, or fail too often.

* 👍-rate: the last `recent` rated answers (an answer is good when it has more 👍 than 👎) against the
  `baseline` rated before them, once each side has at least `min_rated`; an alert when their 95 % Wilson
  intervals do not overlap and the recent one is lower. Ordinary noise stays inside the intervals.
* Failures: more than `failure_rate` of the last `recent` answers failed (model errors, nowhere to post).

At most one alert per cause per day (the key is kept in the database, so replicas share it).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from storage import quality as quality_rows
from storage.db import Database
from tuning.release.evaluation.metrics import wilson_interval
from tuning.release.lifecycle.notices import Announcements

RATING, FAILURES = "rating", "failures"
PREFIX = "quality:"
LINKS = 3


@dataclass(frozen=True)
class QualitySettings:
    recent: int = 50
    baseline: int = 200
    min_rated: int = 20
    failure_rate: float = 0.05


@dataclass(frozen=True)
class Window:
    good: int
    rated: int
    low: float
    high: float
    models: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.good / self.rated if self.rated else 0.0


@dataclass(frozen=True)
class Link:
    channel: str
    ts: str
    thread_ts: str | None
    note: str = ""


@dataclass(frozen=True)
class QualityState:
    settings: QualitySettings
    recent: Window | None  # None until `min_rated` answers on each side
    earlier: Window | None
    rated: int  # rated answers in all (up to recent + baseline)
    failed: int
    finished: int
    worst: tuple[Link, ...]  # recent 👎 answers
    failures: tuple[Link, ...]  # recent failed answers
    last_sent: dict[str, str]  # cause -> when its newest alert went out

    @property
    def rating_dropped(self) -> bool:
        return self.recent is not None and self.earlier is not None and self.recent.high < self.earlier.low

    @property
    def failing(self) -> bool:
        return self.finished > 0 and self.failed / self.finished > self.settings.failure_rate

    @property
    def causes(self) -> list[str]:
        return [cause for cause, on in ((RATING, self.rating_dropped), (FAILURES, self.failing)) if on]


class QualityPublisher(Protocol):
    def alert(self, channel: str, state: QualityState, cause: str) -> Awaitable[None]: ...


class QualityAlerts:
    def __init__(
        self,
        db: Database,
        announcements: Announcements,
        publisher: QualityPublisher,
        settings: QualitySettings | None = None,
    ) -> None:
        self._db = db
        self._announcements = announcements
        self._publisher = publisher
        self.settings = settings or QualitySettings()

    async def state(self) -> QualityState:
        s = self.settings
        rated = await quality_rows.rated_answers(self._db, s.recent + s.baseline)
        recent, earlier = rated[: s.recent], rated[s.recent :]
        enough = len(recent) >= s.min_rated and len(earlier) >= s.min_rated
        finished = await quality_rows.finished_answers(self._db, s.recent)
        failed = [a for a in finished if a.status == "failed"]
        sent = await quality_rows.alerts_sent(self._db, PREFIX)
        last = {}
        for key, at in sorted(sent.items(), key=lambda item: item[1]):
            last[key.split(":")[1]] = at
        return QualityState(
            settings=s,
            recent=_window(recent) if enough else None,
            earlier=_window(earlier) if enough else None,
            rated=len(rated),
            failed=len(failed),
            finished=len(finished),
            worst=tuple(Link(a.channel, a.answer_ts, a.thread_ts) for a in recent if a.down > a.up)[:LINKS],
            failures=tuple(Link(a.channel, a.question_ts, a.thread_ts, a.error or "") for a in failed)[:LINKS],
            last_sent=last,
        )

    async def check(self, today: date | None = None) -> list[str]:
        """Send what is due; returns the causes alerted now."""
        state = await self.state()
        day = (today or date.today()).isoformat()
        sent = []
        for cause in state.causes:

            async def post(channel: str, cause: str = cause) -> None:
                await self._publisher.alert(channel, state, cause)

            if await self._announcements.once(f"{PREFIX}{cause}:{day}", post):
                sent.append(cause)
        return sent


def _window(answers: list[quality_rows.RatedAnswer]) -> Window:
    good = sum(1 for a in answers if a.up > a.down)
    interval = wilson_interval(good, len(answers)) or (0.0, 1.0)
    return Window(good, len(answers), interval[0], interval[1], tuple(sorted({a.model for a in answers})))
