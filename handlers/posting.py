"""chat.postMessage exactly once, even when the connection drops or Slack answers 5xx after posting.

Every message carries Slack message `metadata` (an event type and a key: the answer, card or a fresh id).
slack_retries.py keeps the SDK from re-sending a chat.postMessage blindly; here, before each re-send, the
thread (or the channel's newest messages) is read with include_all_metadata and a message already carrying
the key is taken as the post. A long thread is read page by page (the replies cursor) until a page passes
the time of the post: a thread of any length gets no duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

RESENDS = 2
RESEND_BACKOFF_SECONDS = 0.25
RECENT_LIMIT = 20  # a top-level post is looked for among the channel's newest messages, a page at a time
PAGE_LIMIT = 200  # replies per page of the look-up
CLOCK_SKEW_SECONDS = 60.0  # Slack's clock and ours may differ by this much


def tag(kind: str, key: str | None = None) -> Metadata:
    """The metadata a post carries: `kind` (e.g. tuneloop_answer) and the key that makes it unique."""
    return Metadata(event_type=kind, event_payload={"key": key or uuid.uuid4().hex})


async def post_once(
    client: AsyncWebClient, *, channel: str, metadata: Metadata, thread_ts: str | None = None, **message: Any
) -> str:
    """Post and return the message's ts; a post that reached Slack before its answer was lost is not repeated."""
    since = time.time()
    for attempt in range(RESENDS + 1):
        try:
            response = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, metadata=metadata, **message)
            return str(response["ts"])
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            if attempt == RESENDS or not _may_have_posted(error):
                raise
            log.warning("chat.postMessage in %s failed (%r): checking whether it was posted", channel, error)
        await asyncio.sleep(RESEND_BACKOFF_SECONDS * 2**attempt)
        found = await find_tagged(client, channel=channel, thread_ts=thread_ts, metadata=metadata, since=since)
        if found is not None:
            return found
    raise AssertionError("unreachable")


def _may_have_posted(error: Exception) -> bool:
    """A dropped connection or a 5xx: Slack may have posted. An `ok: false` answer means it did not."""
    if isinstance(error, SlackApiError):
        return error.response.status_code >= 500
    return True


async def find_tagged(
    client: AsyncWebClient, *, channel: str, thread_ts: str | None, metadata: Metadata, since: float
) -> str | None:
    """The ts of the bot's message carrying this metadata, or None. `since`: (our) time of the first try."""
    return await _first_found(
        client, channel=channel, thread_ts=thread_ts, since=since, found=lambda message: _carries(message, metadata)
    )


async def find_left_behind(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str | None,
    metadata: Metadata,
    question_ts: str,
    bot_user_id: str | None,
    skip: frozenset[str],
) -> str | None:
    """The first message of an answer whose replica died before recording it: its placeholder (by `metadata`)
    or, in a thread, a stream it never stopped (a stream carries metadata only once stopped): the bot's first
    untagged reply after the question that is no other answer's (`skip`)."""

    def left_behind(message: dict[str, Any]) -> bool:
        if _carries(message, metadata):
            return True
        return (
            thread_ts is not None
            and message.get("user") == bot_user_id
            and not message.get("metadata")
            and float(message["ts"]) > float(question_ts)
            and message["ts"] not in skip
        )

    return await _first_found(client, channel=channel, thread_ts=thread_ts, since=float(question_ts), found=left_behind)


async def _first_found(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str | None,
    since: float,
    found: Callable[[dict[str, Any]], bool],
) -> str | None:
    """The ts of the first message `found` accepts in the thread (oldest first), or among the channel's messages
    since `since` (newest first); None if none.

    Replies come oldest first: pages are read until one ends after the look-up began (the post cannot be
    later). The channel's history comes newest first: pages are read until one ends before `since`.
    """
    if thread_ts:
        pages = await client.conversations_replies(
            channel=channel, ts=thread_ts, limit=PAGE_LIMIT, include_all_metadata=True
        )
        passed = _after(time.time() + CLOCK_SKEW_SECONDS)
    else:
        pages = await client.conversations_history(channel=channel, limit=RECENT_LIMIT, include_all_metadata=True)
        passed = _before(since - CLOCK_SKEW_SECONDS)
    async for page in pages:
        messages: list[dict[str, Any]] = page.get("messages", [])
        for message in messages:
            if found(message):
                return str(message["ts"])
        if messages and passed(float(messages[-1]["ts"])):
            break
    return None


def _carries(message: dict[str, Any], metadata: Metadata) -> bool:
    carried = message.get("metadata") or {}
    return carried.get("event_type") == metadata.event_type and carried.get("event_payload") == metadata.event_payload


def _after(limit: float) -> Callable[[float], bool]:
    return lambda ts: ts > limit


def _before(limit: float) -> Callable[[float], bool]:
    return lambda ts: ts < limit
