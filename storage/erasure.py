"""A message deleted in Slack leaves every copy Tuneloop holds (README, "Privacy"): the stored message, the raw
events in the inbox (the message's own, and the `previous_message` that Slack's edit and delete events
carry), and the prompts and examples of answers that quoted it. SQLite-specific bytes (free pages, the
write-ahead log) are handled by storage/db.py: secure_delete and checkpoint().
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from storage.db import Transaction

DELETED = "[deleted]"
QUOTING = frozenset({"text", "content", "question", "answer", "corrected"})
MIN_QUOTED = 12  # shorter texts are removed only where they are a whole chat turn, not wherever they occur


@dataclass(frozen=True)
class Scrubbed:
    texts: tuple[str, ...]  # what was removed (for the memory index, which holds its own copies)
    inbox: int
    prompts: int
    examples: int


async def scrub(conn: Transaction, channel: str, ts: str, known: Iterable[str]) -> Scrubbed:
    """Remove the text of message (channel, ts) from the messages, inbox, answers and examples tables."""
    texts = {t for t in known if t.strip()}
    stored = await conn.fetchval("SELECT text FROM messages WHERE channel = ? AND ts = ?", (channel, ts))
    if stored:
        texts.add(stored)
    inbox_rows = await conn.fetchall("SELECT id, body FROM inbox WHERE instr(body, ?) > 0", (ts,))
    for row in inbox_rows:
        texts |= _texts_of(_parsed(row["body"]), ts)
    texts.discard("")
    await conn.execute("UPDATE messages SET text = '' WHERE channel = ? AND ts = ?", (channel, ts))
    inbox = 0
    for row in inbox_rows:
        body = _scrub_event(row["body"], ts, texts)
        if body != row["body"]:
            await conn.execute("UPDATE inbox SET body = ? WHERE id = ?", (body, row["id"]))
            inbox += 1
    prompts = 0
    for row in await conn.fetchall(
        "SELECT id, request_messages FROM answers WHERE channel = ? AND request_messages IS NOT NULL", (channel,)
    ):
        scrubbed = _scrub_json(row["request_messages"], texts)
        if scrubbed != row["request_messages"]:
            await conn.execute("UPDATE answers SET request_messages = ? WHERE id = ?", (scrubbed, row["id"]))
            prompts += 1
    examples = 0
    for row in await conn.fetchall("SELECT id, question, conversation FROM examples WHERE channel = ?", (channel,)):
        question, conversation = _scrub_text(row["question"], texts), _scrub_json(row["conversation"], texts)
        if (question, conversation) != (row["question"], row["conversation"]):
            await conn.execute(
                "UPDATE examples SET question = ?, conversation = ? WHERE id = ?", (question, conversation, row["id"])
            )
            examples += 1
    return Scrubbed(tuple(sorted(texts)), inbox, prompts, examples)


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _texts_of(node: Any, ts: str) -> set[str]:
    """The text of every message object with this ts in an event (event, message, previous_message, …)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("ts") == ts and isinstance(node.get("text"), str):
            found.add(node["text"])
        for value in node.values():
            found |= _texts_of(value, ts)
    elif isinstance(node, list):
        for value in node:
            found |= _texts_of(value, ts)
    return found


def _scrub_event(body: str, ts: str, texts: set[str]) -> str:
    event = _parsed(body)
    if event is None:
        return _scrub_text(body, texts)
    return json.dumps(_scrub_node(event, ts, texts), separators=(",", ":"), ensure_ascii=False)


def _scrub_node(node: Any, ts: str | None, texts: set[str], key: str | None = None) -> Any:
    """The message objects with this ts lose their text and rich text; other people's words (the values of
    QUOTING keys) lose the texts where they quote them. Ids, types and roles are left alone."""
    if isinstance(node, dict):
        if ts is not None and node.get("ts") == ts:
            node = {k: v for k, v in node.items() if k not in ("blocks", "attachments", "files")}
            if "text" in node:
                node["text"] = ""
        return {k: _scrub_node(value, ts, texts, k) for k, value in node.items()}
    if isinstance(node, list):
        return [_scrub_node(value, ts, texts, key) for value in node]
    if isinstance(node, str) and key in QUOTING:
        return _scrub_text(node, texts)
    return node


def _scrub_json(value: str | None, texts: set[str]) -> str | None:
    parsed = _parsed(value) if value else None
    if parsed is None:
        return _scrub_text(value, texts) if value else value
    scrubbed = _scrub_node(parsed, None, texts, "text" if isinstance(parsed, str) else None)
    return value if scrubbed == parsed else json.dumps(scrubbed, ensure_ascii=False)


def _scrub_text(value: str, texts: set[str]) -> str:
    stripped = value.strip()
    for text in texts:
        if stripped == text.strip() or text.strip().endswith(stripped) and len(stripped) >= MIN_QUOTED:
            return DELETED
        if len(text) >= MIN_QUOTED and text in value:
            value = value.replace(text, DELETED)
    return value
