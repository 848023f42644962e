"""The fake Slack workspace: users, channels, messages and what the bot did.

Everything here is plain data and synchronous; `slack.py` turns Web API calls
into these operations and these records into Slack's JSON shapes.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TEAM_ID = "T0001"
TEAM_NAME = "Tuneloop Test"
APP_ID = "A0001"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "tuneloop"
WORKSPACE_URL = "https://fake.slack.com/"

Reactions = Mapping[str, Sequence[str]] | Sequence[Mapping[str, Any]]


class SlackError(Exception):
    """A Web API failure, answered as HTTP 200 `{"ok": false, "error": code}`."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


def ts_key(ts: str) -> Decimal:
    return Decimal(ts)


class TsClock:
    """Unique, increasing Slack timestamps ("1700000000.000100"), 100 µs apart."""

    STEP_US = 100

    def __init__(self, start: float | None = None) -> None:
        start_s = int(time.time()) - 3600 if start is None else start
        self._last_us = int(Decimal(str(start_s)) * 1_000_000)

    def next(self) -> str:
        self._last_us += self.STEP_US
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def observe(self, ts: str) -> None:
        """Keep generated timestamps after an explicit one."""
        self._last_us = max(self._last_us, int(ts_key(ts) * 1_000_000))


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    display_name: str = ""
    is_bot: bool = False
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "team": TEAM_ID,
        }
        if self.id == BOT_USER_ID:
            profile |= {"bot_id": BOT_ID, "api_app_id": APP_ID}
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": "Europe/London",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    is_im: bool = False
    is_private: bool = False
    user: str | None = None  # the other party of an IM
    members: list[str] | None = None  # None: every active person (+ the bot if a member)
    is_ext_shared: bool = False  # Slack Connect: shared with another organisation

    def to_dict(self) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "created": 1700000000,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        topic = {"value": "", "creator": "", "last_set": 0}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": False,
            "is_general": False,
            "is_shared": self.is_ext_shared,
            "is_ext_shared": self.is_ext_shared,
            "is_org_shared": False,
            "is_member": self.is_member,
            "created": 1700000000,
            "creator": "",
            "topic": topic,
            "purpose": dict(topic),
        }


@dataclass
class Message:
    channel: str
    ts: str
    user: str | None
    text: str
    thread_ts: str | None = None
    bot_id: str | None = None
    blocks: list[dict[str, Any]] | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edited: dict[str, str] | None = None
    files: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    stream: str | None = None  # "streaming" from chat.startStream until chat.stopStream, then "stopped"
    stream_heard: float = 0.0  # monotonic time of the stream's last call: it times out after a silence

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def root_ts(self) -> str:
        return self.thread_ts if self.is_reply else self.ts  # type: ignore[return-value]


@dataclass
class SlackFile:
    """A file uploaded with files.getUploadURLExternal + files.completeUploadExternal."""

    id: str
    filename: str
    title: str
    content: bytes
    channel_id: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title,
            "size": len(self.content),
            "mimetype": "text/plain",
            "filetype": "text",
            "user": BOT_USER_ID,
            "created": 1700000000,
            "is_external": False,
            "mode": "hosted",
            "url_private": f"https://files.fake.slack.com/files-pri/{TEAM_ID}-{self.id}/{self.filename}",
            "permalink": f"{WORKSPACE_URL}files/{BOT_USER_ID}/{self.id}/{self.filename}",
        }


def normalize_reactions(reactions: Reactions | None) -> dict[str, list[str]]:
    """Accept `{"+1": ["U1"]}` or Slack's `[{"name": "+1", "users": ["U1"]}]`."""
    if not reactions:
        return {}
    if isinstance(reactions, Mapping):
        return {name: list(users) for name, users in reactions.items()}
    return {item["name"]: list(item.get("users", [])) for item in reactions}


class Workspace:
    """Seeded and mutated state; raises `SlackError` the way Slack would answer."""

    def __init__(self, clock: TsClock) -> None:
        self.clock = clock
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self._messages: dict[str, dict[str, Message]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home_tabs: dict[str, dict[str, Any]] = {}
        self.files: list[SlackFile] = []
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> filename, content (None until sent)
        self.streaming_refused: dict[str, str] = {}  # channel -> the error chat.startStream answers there
        self.assistant_threads: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, thread_ts) -> status etc.
        self._ids = itertools.count(1)
        self.add_user(BOT_USER_ID, BOT_NAME, real_name="Tuneloop", is_bot=True)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    # -- seeding ---------------------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str = "",
        display_name: str = "",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> User:
        self.users[id] = User(id, name, real_name, display_name, is_bot, deleted)
        return self.users[id]

    def add_channel(
        self,
        id: str,
        name: str,
        is_member: bool = True,
        is_im: bool = False,
        is_private: bool = False,
        user: str | None = None,
        members: list[str] | None = None,
        is_ext_shared: bool = False,
    ) -> Channel:
        self.channels[id] = Channel(id, name, is_member, is_im, is_private, user, members, is_ext_shared)
        self._messages.setdefault(id, {})
        return self.channels[id]

    def add_message(
        self,
        channel: str,
        user: str | None,
        text: str,
        thread_ts: str | None = None,
        reactions: Reactions | None = None,
        bot_id: str | None = None,
        ts: str | None = None,
        **fields: Any,
    ) -> Message:
        messages = self._messages_of(channel)
        if ts is None:
            ts = self.clock.next()
        elif ts in messages:
            raise ValueError(f"message {channel}/{ts} already exists")
        self.clock.observe(ts)
        message = Message(
            channel, ts, user, text, thread_ts, bot_id, reactions=normalize_reactions(reactions), **fields
        )
        messages[ts] = message
        return message

    # -- lookups ---------------------------------------------------------

    def channel(self, channel_id: str) -> Channel:
        if channel_id not in self.channels:
            raise SlackError("channel_not_found")
        return self.channels[channel_id]

    def readable_channel(self, channel_id: str) -> Channel:
        channel = self.channel(channel_id)
        if not channel.is_im and not channel.is_member:
            raise SlackError("not_in_channel")
        return channel

    def user(self, user_id: str) -> User:
        if user_id not in self.users:
            raise SlackError("user_not_found")
        return self.users[user_id]

    def message(self, channel_id: str, ts: str, error: str = "message_not_found") -> Message:
        message = self._messages_of(channel_id).get(ts)
        if message is None:
            raise SlackError(error)
        return message

    def members(self, channel: Channel) -> list[str]:
        if channel.is_im:
            return [m for m in (channel.user, BOT_USER_ID) if m]
        if channel.members is not None:
            return list(channel.members)
        people = [u.id for u in self.users.values() if not u.deleted and u.id != BOT_USER_ID]
        return [*people, BOT_USER_ID] if channel.is_member else people

    def im_with(self, user_id: str) -> Channel:
        """The bot's DM with a person, opened on first use (chat.postMessage to a user id)."""
        self.user(user_id)
        for channel in self.channels.values():
            if channel.is_im and channel.user == user_id:
                return channel
        return self.add_channel("D" + user_id.removeprefix("U"), "", is_im=True, user=user_id)

    def thread(self, channel_id: str, ts: str) -> list[Message]:
        """Root first, then its replies oldest first.

        Given a reply's ts, Slack answers with that reply alone (slackapi/bolt-python#783).
        """
        message = self.message(channel_id, ts, error="thread_not_found")
        return [message] if message.is_reply else [message, *self._replies(message)]

    def history(self, channel_id: str) -> list[Message]:
        """Top-level messages, newest first, as conversations.history lists them."""
        top = [m for m in self._messages_of(channel_id).values() if not m.is_reply]
        return sorted(top, key=lambda m: ts_key(m.ts), reverse=True)

    def all_messages(self) -> list[Message]:
        return [m for messages in self._messages.values() for m in messages.values()]

    # -- mutations -------------------------------------------------------

    def delete(self, message: Message) -> None:
        del self._messages[message.channel][message.ts]

    # -- rendering -------------------------------------------------------

    def render(self, message: Message, *, with_metadata: bool = True) -> dict[str, Any]:
        """Slack's JSON for a message, with thread counters computed from the replies.

        Reading methods return `metadata` only when asked (include_all_metadata)."""
        data: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text, "team": TEAM_ID}
        if message.user is not None:
            data["user"] = message.user
        if message.bot_id is not None:
            data |= _bot_fields(message.bot_id)
        data |= self._thread_fields(message)
        data |= _optional_fields(message)
        if not with_metadata:
            data.pop("metadata", None)
        return data

    def _thread_fields(self, message: Message) -> dict[str, Any]:
        if message.is_reply:
            parent = self._messages_of(message.channel).get(message.root_ts)
            parent_user = parent.user if parent else None
            return {"thread_ts": message.thread_ts, "parent_user_id": parent_user}
        replies = self._replies(message)
        if not replies:
            return {"thread_ts": message.thread_ts} if message.thread_ts else {}
        users = list(dict.fromkeys(r.user for r in replies if r.user))
        return {
            "thread_ts": message.ts,
            "reply_count": len(replies),
            "reply_users": users,
            "reply_users_count": len(users),
            "latest_reply": replies[-1].ts,
        }

    def _replies(self, root: Message) -> list[Message]:
        replies = [m for m in self._messages_of(root.channel).values() if m.is_reply and m.thread_ts == root.ts]
        return sorted(replies, key=lambda m: ts_key(m.ts))

    def _messages_of(self, channel_id: str) -> dict[str, Message]:
        self.channel(channel_id)
        return self._messages[channel_id]


def _bot_fields(bot_id: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"bot_id": bot_id}
    if bot_id == BOT_ID:
        fields |= {
            "app_id": APP_ID,
            "bot_profile": {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": BOT_NAME,
                "team_id": TEAM_ID,
                "deleted": False,
            },
        }
    return fields


def _optional_fields(message: Message) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if message.blocks is not None:
        fields["blocks"] = message.blocks
    if message.reactions:
        fields["reactions"] = [
            {"name": name, "users": users, "count": len(users)} for name, users in message.reactions.items() if users
        ]
    if message.edited is not None:
        fields["edited"] = message.edited
    if message.files is not None:
        fields |= {"files": message.files, "upload": True}
    if message.metadata is not None:
        fields["metadata"] = message.metadata
    return fields


# -- pagination ---------------------------------------------------------------


def encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        prefix, _, value = base64.b64decode(cursor, validate=True).decode().partition(":")
        if prefix != "offset":
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None


@dataclass
class Page:
    items: list[Any]
    next_cursor: str

    @property
    def has_more(self) -> bool:
        return bool(self.next_cursor)


def paginate(items: Iterable[Any], cursor: str | None, limit: int) -> Page:
    """Cut a page of `limit` items (0 means all) starting at an opaque cursor."""
    all_items = list(items)
    start = decode_cursor(cursor)
    end = len(all_items) if limit <= 0 else start + limit
    next_cursor = encode_cursor(end) if end < len(all_items) else ""
    return Page(all_items[start:end], next_cursor)
