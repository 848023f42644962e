"""Refuse a payload that breaks the types Slack guarantees, before any listener reads it.

Slack never sends a number where it sends a timestamp, or a list where it sends a user id; a signed
request that does is corrupt. Checking the keys Tuneloop and Bolt read, in the parts of a payload they
read them from, keeps every listener free of defensive type checks. Message content (blocks,
attachments, files) is not looked into.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

_TS = re.compile(r"\d{1,16}(\.\d{1,9})?")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # T…, U…, C…, A…, Ev…: ids end up in URLs and queries


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _ts(value: Any) -> bool:
    return isinstance(value, str) and _TS.fullmatch(value) is not None


def _id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _url(value: Any) -> bool:  # Slack replies to an absolute http(s) URL; anything else cannot be posted to
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.hostname)


def _ref(value: Any) -> bool:  # an id, or an object that carries one
    return isinstance(value, dict) or _id(value)


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


_RULES: dict[str, Callable[[Any], bool]] = {
    **dict.fromkeys(
        (
            "type",
            "subtype",
            "name",
            "callback_id",
            "trigger_id",
            "action_id",
            "block_id",
            "private_metadata",
            "reaction",
            "channel_type",
            "tab",
            "command",
            "value",
        ),
        _text,
    ),
    **dict.fromkeys(("id", "user_id", "channel_id", "team_id", "event_id", "api_app_id", "item_user", "bot_id"), _id),
    **dict.fromkeys(("ts", "thread_ts", "message_ts", "event_ts", "action_ts"), _ts),
    **dict.fromkeys(("user", "channel", "team", "enterprise"), _ref),
    **dict.fromkeys(("event", "view", "message", "previous_message", "item", "state", "values", "container"), _object),
    **dict.fromkeys(("actions", "authorizations", "reactions"), _objects),
    "response_url": _url,
    "text": lambda value: isinstance(value, str | dict),  # a message's text, or a Block Kit text object
    "users": lambda value: isinstance(value, list) and all(isinstance(user, str) for user in value),
    "reply_count": lambda value: isinstance(value, int) and not isinstance(value, bool),
}
# Where Slack itself sends null.
_NULLABLE = frozenset({"team", "enterprise", "value", "item_user", "private_metadata", "thread_ts"})
# The parts of a payload that are looked into; "values" holds block id → action id → input state.
_CONTAINERS = frozenset(
    {
        "event",
        "item",
        "message",
        "previous_message",
        "user",
        "channel",
        "team",
        "view",
        "state",
        "values",
        "actions",
        "container",
        "authorizations",
        "reactions",
    }
)


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _with_id(value: Any) -> bool:
    return isinstance(value, dict) and _id(value.get("id"))


def _message(value: Any) -> bool:  # a message's author is an id, where a payload's `user` may be an object
    return isinstance(value, dict) and (value.get("user") is None or _id(value.get("user")))


# What each kind of payload always carries, whatever else it holds.
_REQUIRED: dict[str, dict[str, Callable[[Any], bool]]] = {
    "event_callback": {"event": _object},
    "message_action": {
        "user": _with_id,
        "channel": _with_id,
        "message": _message,
        "trigger_id": _filled,
        "callback_id": _text,
    },
    "shortcut": {"user": _with_id, "trigger_id": _filled, "callback_id": _text},
    "block_actions": {
        "user": _with_id,
        "trigger_id": _filled,
        "actions": lambda value: (
            _objects(value) and bool(value) and all(isinstance(action.get("action_id"), str) for action in value)
        ),
    },
    "view_submission": {"user": _with_id, "view": _object},
    "view_closed": {"user": _with_id, "view": _object},
}


def missing(body: dict[str, Any]) -> str | None:
    """The first field this kind of payload always carries that is absent or not what Slack sends."""
    kind = body.get("type") if isinstance(body.get("type"), str) else None
    found = next((key for key, rule in _REQUIRED.get(kind or "", {}).items() if not rule(body.get(key))), None)
    in_message = (body.get("container") or {}).get("type", "message") == "message"
    replies_by_url = (kind == "block_actions" and in_message) or kind == "message_action" or "command" in body
    if found is None and replies_by_url and not _url(body.get("response_url")):
        return "response_url"  # a message shortcut, a click on a message and a slash command always carry one
    return found


def problem(payload: Any, path: str = "", *, depth: int = 0) -> str | None:
    """The path of the first key whose value Slack would never send, or None.

    `depth` > 0 looks into every key for that many levels (the block and action ids under "values").
    """
    if isinstance(payload, list):
        return next(
            (found for i, item in enumerate(payload) if (found := problem(item, f"{path}{i}.", depth=depth))), None
        )
    if not isinstance(payload, dict):
        return None
    for key, value in payload.items():
        rule = _RULES.get(key)
        if rule is not None and not (rule(value) or (value is None and key in _NULLABLE)):
            return f"{path}{key}"
        if key in _CONTAINERS or depth > 0:
            found = problem(value, f"{path}{key}.", depth=3 if key == "values" else max(depth - 1, 0))
            if found:
                return found
    return None


class RefuseMalformed(AsyncMiddleware):
    """Runs on every request: a middleware class, because Bolt inspects a function middleware's signature on
    each call to inject its arguments, which costs more than the check itself (bench/ingest.py)."""

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        try:
            found = problem(req.body) or missing(req.body)
        except RecursionError:
            found = "(nested too deep)"
        if found is None:
            return await next()
        log.warning("refused a %s payload: `%s` is not what Slack sends", req.body.get("type", "unknown"), found)
        return BoltResponse(status=400, body="malformed payload")
