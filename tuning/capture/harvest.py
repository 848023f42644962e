"""Backfill: find 👍 in a channel's recent threads and create the examples live capture would have."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from storage import examples as example_rows
from storage import votes as vote_rows
from storage.db import Database
from tuning.capture.examples import Capture, vote_direction
from tuning.errors import NotFound
from tuning.ports import SlackReader
from tuning.values import ChannelRef, HarvestReport, SlackMessage

Progress = Callable[[HarvestReport], Awaitable[None]]


class Harvester:
    def __init__(self, db: Database, capture: Capture) -> None:
        self._db = db
        self._capture = capture

    async def run(self, channel: ChannelRef, days: int, reader: SlackReader, progress: Progress) -> HarvestReport:
        channel_id = channel.id or (await reader.channel_id(channel.name or ""))
        if channel_id is None:
            raise NotFound(f"There is no channel called {channel} that Tuneloop can see.")
        report = HarvestReport(channel=channel_id)
        oldest = time.time() - days * 86_400
        async for page in reader.history(channel_id, oldest):
            for root in page:
                if root.reply_count:
                    await self._thread(channel_id, root.ts, reader, report)
            await progress(report)
        report.finished = True
        return report

    async def _thread(self, channel: str, thread_ts: str, reader: SlackReader, report: HarvestReport) -> None:
        thread = await reader.thread(channel, thread_ts)
        report.threads_scanned += 1
        for reply in thread[1:]:  # a 👍 on the root does nothing
            report.replies_scanned += 1
            await self._reply(reply, thread, reader, report)

    async def _reply(
        self, reply: SlackMessage, thread: list[SlackMessage], reader: SlackReader, report: HarvestReport
    ) -> None:
        voters = _votes(reply, excluded=(reader.bot_user_id, reply.user))
        if not voters:
            if any(vote_direction(r.name) for r in reply.reactions):
                report.skip("only the author's or the bot's own reaction")
            return
        await self._record_snapshot(reply, voters)
        example = await example_rows.find(self._db, reply.channel, reply.ts)
        if example is not None:
            report.skip("already collected")
        elif not reply.is_bot and all(direction < 0 for _, _, direction in voters):
            report.skip("👎 only, on a teammate's reply")
            return
        else:
            example = await self._capture.ensure_example(reply.channel, reply.ts, reader, known=(reply, thread))
            if example is None:
                report.skip("no question before it")
                return
            report.added += 1
        await self._capture.recount(example, reader.bot_user_id)

    async def _record_snapshot(self, reply: SlackMessage, voters: list[tuple[str, str, int]]) -> None:
        """Reactions seen now; a live event recorded earlier for the same reaction is left as it is."""
        now = f"{time.time():.6f}"
        for voter, reaction, direction in voters:
            if not await vote_rows.is_present(
                self._db, channel=reply.channel, ts=reply.ts, voter=voter, reaction=reaction
            ):
                await vote_rows.record_reaction(
                    self._db,
                    channel=reply.channel,
                    ts=reply.ts,
                    voter=voter,
                    reaction=reaction,
                    direction=direction,
                    added=True,
                    event_ts=now,
                )


def _votes(message: SlackMessage, *, excluded: tuple[str | None, ...]) -> list[tuple[str, str, int]]:
    """(voter, reaction, direction) for every 👍/👎 on the message by someone who may vote."""
    found = []
    for reaction in message.reactions:
        direction = vote_direction(reaction.name)
        if direction is not None:
            found += [(user, reaction.name, direction) for user in reaction.users if user not in excluded]
    return found
