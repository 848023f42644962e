"""Retention and erasure: what Tuneloop keeps of what people wrote, and for how long (README, "Privacy").

An erased example keeps its row (dataset versions and jobs refer to it) but loses its content and leaves
every future dataset (state 'rejected'); the versions already built with it are listed in
erased_from_datasets, and shown as "contains erased data: rebuild".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storage import erasure, memory
from storage.db import Database, Transaction

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def _cutoff(days: int) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{int(days)} days')"


@dataclass(frozen=True)
class Pruned:
    inbox: int
    messages: int
    answers: int


@dataclass(frozen=True)
class Deleted:
    examples: int  # examples erased (the message was one)
    scrubbed: erasure.Scrubbed


@dataclass(frozen=True)
class Erased:
    messages: int
    votes: int
    examples: int
    datasets: int


async def prune(db: Database, *, inbox_days: int, message_days: int) -> Pruned:
    """Processed events older than inbox_days go; message text (and answers' prompts and text) older than
    message_days is blanked unless it became an example."""
    inbox = await db.write_returning(
        f"DELETE FROM inbox WHERE processed_at IS NOT NULL AND processed_at < {_cutoff(inbox_days)} RETURNING id"
    )
    messages = await db.write_returning(
        f"UPDATE messages SET text = '' WHERE text != '' AND created_at < {_cutoff(message_days)}"
        " AND NOT EXISTS (SELECT 1 FROM examples e WHERE e.channel = messages.channel AND e.message_ts = messages.ts)"
        " RETURNING ts"
    )
    answers = await db.write_returning(
        f"UPDATE answers SET request_messages = NULL, answer_text = NULL"
        f" WHERE (request_messages IS NOT NULL OR answer_text IS NOT NULL)"
        f" AND created_at < {_cutoff(message_days)}"
        " AND NOT EXISTS (SELECT 1 FROM examples e WHERE e.answer_id = answers.id) RETURNING id"
    )
    return Pruned(len(inbox), len(messages), len(answers))


async def message_changed(db: Database, channel: str, ts: str, text: str) -> None:
    await db.execute("UPDATE messages SET text = ? WHERE channel = ? AND ts = ?", (text, channel, ts))


async def message_deleted(db: Database, channel: str, ts: str, known_texts: Iterable[str] = ()) -> Deleted:
    """Forget a message deleted in Slack, in every copy (storage/erasure.py); its example, if any, is erased.
    `known_texts`: what the deletion event says it was (`previous_message`)."""
    async with db.transaction() as conn:
        scrubbed = await erasure.scrub(conn, channel, ts, known_texts)
        rows = await conn.fetchall("SELECT id FROM examples WHERE channel = ? AND message_ts = ?", (channel, ts))
        ids = [row[0] for row in rows]
        await _erase_examples(conn, ids, reason="its message was deleted in Slack")
    await db.checkpoint()
    return Deleted(len(ids), scrubbed)


async def forget(db: Database, user: str) -> Erased:
    """Erase what `user` wrote, their votes and the examples they are part of (author, asker, corrector)."""
    async with db.transaction() as conn:
        examples = [
            row[0]
            for row in await conn.fetchall(
                "SELECT e.id FROM examples e LEFT JOIN answers a ON a.id = e.answer_id"
                " LEFT JOIN messages m ON m.channel = e.channel AND m.ts = e.thread_ts"
                " WHERE e.author = ?1 OR a.asked_by = ?1 OR m.user_id = ?1"
                " OR e.id IN (SELECT example_id FROM corrections WHERE corrector = ?1)",
                (user,),
            )
        ]
        datasets = await _erase_examples(conn, examples, reason="a person's data was erased")
        messages = await conn.execute("DELETE FROM messages WHERE user_id = ?", (user,))
        votes = await conn.execute("DELETE FROM reaction_events WHERE voter = ?", (user,))
        await conn.execute("DELETE FROM vote_reasons WHERE voter = ?", (user,))
        await conn.execute("DELETE FROM corrections WHERE corrector = ?", (user,))
        # The answers to their questions, which quote them (Slack keeps the posted copy, Tuneloop does not).
        await conn.execute(
            "UPDATE messages SET text = '' WHERE answer_id IN (SELECT id FROM answers WHERE asked_by = ?)", (user,)
        )
        await conn.execute(
            "UPDATE answers SET request_messages = NULL, answer_text = NULL, asked_by = 'erased' WHERE asked_by = ?",
            (user,),
        )
        await conn.execute("UPDATE example_events SET actor = NULL WHERE actor = ?", (user,))
        await conn.execute("DELETE FROM members WHERE user_id = ?", (user,))  # a cache: users.list refills it
        # The raw events they sent (already processed); the JSON quotes the id.
        await conn.execute("DELETE FROM inbox WHERE processed_at IS NOT NULL AND instr(body, ?) > 0", (f'"{user}"',))
        await _recount_votes(conn)
    return Erased(messages, votes, len(examples), datasets)


async def _erase_examples(conn: Transaction, ids: list[int], *, reason: str) -> int:
    """Blank the examples and flag the dataset versions built with them; returns how many versions were flagged."""
    if not ids:
        return 0
    marks = ", ".join("?" * len(ids))
    await conn.execute(
        f"UPDATE examples SET state = 'rejected', conversation = '[]', question = '', answer = '', corrected = NULL,"
        f" updated_at = {_NOW} WHERE id IN ({marks})",
        ids,
    )
    await memory.sync(conn, ids)
    # The processed events that carried their text (a correction's form quotes the question and the answer).
    stamps = [
        row[0]
        for row in await conn.fetchall(
            f"SELECT message_ts FROM examples WHERE id IN ({marks}) UNION"
            f" SELECT thread_ts FROM examples WHERE id IN ({marks}) AND thread_ts IS NOT NULL",
            [*ids, *ids],
        )
    ]
    await conn.executemany(
        "DELETE FROM inbox WHERE processed_at IS NOT NULL AND instr(body, ?) > 0", [(ts,) for ts in stamps]
    )
    await conn.execute(f"DELETE FROM corrections WHERE example_id IN ({marks})", ids)
    await conn.executemany(
        "INSERT INTO example_events (example_id, action, actor, state) VALUES (?, 'erased', NULL, 'rejected')",
        [(example_id,) for example_id in ids],
    )
    return await conn.execute(
        f"INSERT INTO erased_from_datasets (dataset_id, reason) SELECT DISTINCT dataset_id, ? FROM dataset_members"
        f" WHERE example_id IN ({marks}) OR rejected_id IN ({marks}) ON CONFLICT (dataset_id) DO NOTHING",
        [reason, *ids, *ids],
    )


async def _recount_votes(conn: Transaction) -> None:
    """Votes on examples from what remains (the author's own votes never count)."""
    await conn.execute(
        "UPDATE examples SET"
        " up_votes = (SELECT count(*) FROM votes v WHERE v.channel = examples.channel AND v.ts = examples.message_ts"
        "   AND v.direction = 1 AND v.voter IS NOT examples.author),"
        " down_votes = (SELECT count(*) FROM votes v WHERE v.channel = examples.channel AND v.ts = examples.message_ts"
        "   AND v.direction = -1 AND v.voter IS NOT examples.author)"
    )
    await memory.sync_all(conn)  # a memory may have lost the 👍 that made it one


async def erased_datasets(db: Database) -> dict[int, str]:
    """Dataset versions (by id) built with data erased since, and why."""
    return {row[0]: row[1] for row in await db.fetchall("SELECT dataset_id, reason FROM erased_from_datasets")}
