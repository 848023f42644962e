"""What has been collected, for the stats command and the App Home."""

from __future__ import annotations

from collections import defaultdict

from storage import stats as stat_rows
from storage import vote_reasons
from storage.db import Database
from tuning.values import Activity, Stats

TOP_CONTRIBUTORS = 5


class StatsService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def collect(self) -> Stats:
        return await collect(self._db)

    async def recent(self, limit: int = 8) -> list[Activity]:
        return await recent_activity(self._db, limit)


async def collect(db: Database) -> Stats:
    by_state: dict[str, int] = defaultdict(int)
    by_source: dict[str, int] = defaultdict(int)
    for count in await stat_rows.by_state_and_source(db):
        by_state[count.state] += count.n
        by_source[count.source] += count.n
    by_channel: dict[str, dict[str, int]] = defaultdict(dict)
    for in_channel in await stat_rows.by_channel(db):
        by_channel[in_channel.channel][in_channel.state] = in_channel.n
    contributors = await stat_rows.contributors(db, TOP_CONTRIBUTORS)
    return Stats(
        by_state=dict(by_state),
        by_source=dict(by_source),
        by_channel=dict(by_channel),
        contributors=[(person.user, person.n) for person in contributors],
        down_reasons=await vote_reasons.counts(db),
    )


async def recent_activity(db: Database, limit: int = 8) -> list[Activity]:
    return [Activity.model_validate(row, from_attributes=True) for row in await stat_rows.recent_activity(db, limit)]
