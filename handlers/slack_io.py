"""Reading conversations from Slack and posting answers: the Slack I/O the answer flow needs."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tuning.values import Reaction, SlackMessage

# Messages Tuneloop treats as something a person said (edits, joins and deletions are not).
_CONVERSATIONAL_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
DM_HISTORY_LIMIT = 20


# What Slack answers when Tuneloop is not a member of the channel it reads or posts in.
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def slack_error(error: SlackApiError) -> str:
    """Slack's error code; a proxy's or gateway's answer may not even be JSON."""
    data = error.response.data
    return str(data.get("error")) if isinstance(data, dict) else f"HTTP {error.response.status_code}"


def to_message(
    raw: dict[str, Any], *, channel: str, team_id: str | None, bot_user_id: str | None, bot_id: str | None
) -> SlackMessage | None:
    """A Slack message payload as a SlackMessage; None for edits, joins, deletions and the like."""
    if not raw.get("ts") or (raw.get("subtype") not in _CONVERSATIONAL_SUBTYPES and not raw.get("bot_id")):
        return None
    user = raw.get("user")
    text = str(raw.get("text") or "")
    return SlackMessage(
        team_id=team_id or raw.get("team"),
        channel=channel,
        ts=str(raw["ts"]),
        thread_ts=raw.get("thread_ts") if raw.get("thread_ts") != raw.get("ts") else None,
        user=user,
        text=text,
        is_bot=bool(bot_user_id and user == bot_user_id) or bool(bot_id and raw.get("bot_id") == bot_id),
        is_dm=raw.get("channel_type") in ("im", "mpim") or channel.startswith("D"),  # a group DM is a DM
        mentions_bot=bool(bot_user_id) and f"<@{bot_user_id}>" in text,
        reply_count=int(raw.get("reply_count") or 0),
        reactions=tuple(
            Reaction(name=r["name"], users=tuple(r.get("users") or ()))
            for r in raw.get("reactions") or ()
            if r.get("name")
        ),
    )


async def fetch_conversation(
    client: AsyncWebClient, question: SlackMessage, *, bot_user_id: str | None, bot_id: str | None
) -> list[SlackMessage]:
    """The thread up to and including the question (a top-level DM: the recent DM history)."""
    if question.is_dm and question.thread_ts is None:
        response = await client.conversations_history(
            channel=question.channel, latest=question.ts, inclusive=True, limit=DM_HISTORY_LIMIT
        )
        raw_messages: list[dict[str, Any]] = list(reversed(response.get("messages", [])))
    else:
        raw_messages = []
        async for page in await client.conversations_replies(channel=question.channel, ts=question.reply_thread):
            raw_messages += page.get("messages", [])
    thread = []
    for raw in raw_messages:
        message = to_message(
            raw, channel=question.channel, team_id=question.team_id, bot_user_id=bot_user_id, bot_id=bot_id
        )
        if message is not None and float(message.ts) <= float(question.ts):
            thread.append(message)
    return thread
