"""Admins approve, reject or edit candidate examples."""

from __future__ import annotations

from storage import examples as example_rows
from storage import vote_reasons
from storage.db import Database
from storage.examples import ExampleRow
from storage.states import ExampleState
from tuning.admin import require_admin
from tuning.errors import NotFound
from tuning.values import ExampleView

REVIEW_PAGE = 10
DECISIONS: dict[str, ExampleState] = {"approve": "approved", "reject": "rejected"}


class Review:
    def __init__(self, db: Database, admins: frozenset[str]) -> None:
        self._db = db
        self.admins = admins

    async def queue(self) -> tuple[list[ExampleView], int]:
        """Up to ten candidates (most 👍 first) and how many wait in all."""
        rows = await example_rows.candidates(self._db, REVIEW_PAGE)
        why = await vote_reasons.for_messages(self._db, [(row.channel, row.message_ts) for row in rows])
        views = [
            view(row).model_copy(update={"why_down": tuple(why.get((row.channel, row.message_ts), ()))}) for row in rows
        ]
        return views, await example_rows.count_candidates(self._db)

    async def decide(self, example_id: int, decision: str, actor: str) -> ExampleView:
        require_admin(actor, self.admins, "approve or reject examples")
        example = await self.get(example_id)
        async with self._db.transaction() as tx:
            await example_rows.set_state(
                tx, example.id, DECISIONS[decision], action=decision, actor=actor, decided_by=actor
            )
        return await self.get(example_id)

    async def get(self, example_id: int) -> ExampleView:
        example = await example_rows.get(self._db, example_id)
        if example is None:
            raise NotFound(f"Example {example_id} does not exist.")
        return view(example)


def view(row: ExampleRow) -> ExampleView:
    return ExampleView(
        id=row.id,
        source=row.source,
        state=row.state,
        channel=row.channel,
        thread_ts=row.thread_ts,
        message_ts=row.message_ts,
        author=row.author,
        question=row.question,
        answer=row.answer,
        corrected=row.corrected,
        up_votes=row.up_votes,
        down_votes=row.down_votes,
    )
