"""Retention and erasure (README, "Privacy"): pruning by age, Slack's deletions and edits, and `forget`."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence

from storage import memory as memory_rows
from storage import retention
from storage.db import Database
from storage.retention import Erased, Pruned
from tuning.admin import require_admin
from tuning.errors import UsageError

log = logging.getLogger(__name__)
DeletionHook = Callable[[str, str, Sequence[str]], Awaitable[None]]  # (channel, ts, the texts removed)
_USER = re.compile(r"<@(?P<mention>[UW][A-Z0-9]{2,})(?:\|[^>]*)?>|(?P<id>[UW][A-Z0-9]{2,})")


def user_id(text: str) -> str:
    """A Slack user id from `U…` or a mention `<@U…>`; UsageError otherwise."""
    match = _USER.fullmatch(text.strip())
    if not match:
        raise UsageError(f"`{text[:60]}` is not a Slack user: give their id (U…) or mention them (@name).")
    return match["mention"] or match["id"]


class Privacy:
    def __init__(self, db: Database, admins: frozenset[str], *, inbox_days: int, message_days: int) -> None:
        self._db = db
        self._admins = admins
        self._inbox_days = inbox_days
        self._message_days = message_days
        self._deletion_hooks: list[DeletionHook] = []

    async def prune(self) -> Pruned:
        pruned = await retention.prune(self._db, inbox_days=self._inbox_days, message_days=self._message_days)
        if pruned.inbox or pruned.messages or pruned.answers:
            log.info(
                "retention: removed %d processed events, blanked %d messages and %d prompts",
                pruned.inbox,
                pruned.messages,
                pruned.answers,
            )
        return pruned

    def on_deleted(self, hook: DeletionHook) -> None:
        """Call `hook(channel, ts, texts)` after each deletion: stores that keep copies of their own (the team
        memory's index and embeddings) remove them there."""
        self._deletion_hooks.append(hook)

    async def message_deleted(self, channel: str, ts: str, previous_text: str | None = None) -> None:
        """Slack's message_deleted, anywhere (channels, DMs, assistant threads): every copy goes."""
        deleted = await retention.message_deleted(self._db, channel, ts, [previous_text] if previous_text else [])
        if deleted.examples:
            log.info("a message deleted in Slack took its example with it (%s %s)", channel, ts)
            await memory_rows.purge(self._db)
        for hook in self._deletion_hooks:
            await hook(channel, ts, deleted.scrubbed.texts)

    async def message_changed(self, channel: str, ts: str, text: str) -> None:
        await retention.message_changed(self._db, channel, ts, text)

    async def forget(self, who: str, *, actor: str | None) -> tuple[str, Erased]:
        """Erase a person's data. `actor` None is the operator's CLI; anyone else must be an admin."""
        if actor is not None:
            require_admin(actor, self._admins, "erase a person's data")
        user = user_id(who)
        erased = await retention.forget(self._db, user)
        await memory_rows.purge(self._db)  # nothing of what was erased is left in the index, the file or the WAL
        return user, erased

    async def erased_datasets(self) -> dict[int, str]:
        return await retention.erased_datasets(self._db)
