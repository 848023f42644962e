"""Slack Web API methods: from a call's arguments to Slack's JSON answer.

Each method reads and changes the `Workspace`; a failure raises `SlackError`,
which the server answers as HTTP 200 `{"ok": false, "error": ...}`. The checks
Slack makes on text, blocks and views are here too, so a render bug fails the
way it would in production.

Streaming, metadata and the assistant pane (added December 2026) follow:
- the arguments slack_sdk 3.48.0 sends (web/async_client.py: chat_startStream, chat_appendStream,
  chat_stopStream, assistant_threads_*; web/async_chat_stream.py sends text as `chunks` of type
  markdown_text) and Slack's method pages on docs.slack.dev as of Oct 2025: markdown_text at most
  12,000 characters; recipient_team_id and recipient_user_id required when streaming to a channel;
- the error codes of those methods' reference pages (docs.slack.dev, read 5 Dec 2026; mirrored in
  slack-ruby/slack-api-ref methods/chat/chat.*Stream.json): `channel_type_not_supported` where a channel
  cannot stream, `message_not_in_streaming_state` for an append or stop after the stream ended (or timed
  out: about five minutes, slack_limits.STREAM_TIMEOUT_SECONDS), `missing_recipient_team_id` /
  `missing_recipient_user_id`, `msg_too_long` per chunk, `invalid_metadata_format`; rate tiers in
  slack_limits.py;
- Block Kit reference (docs.slack.dev, Oct 2025): `markdown` blocks share 12,000 characters per payload;
  `context_actions` holds up to 5 `feedback_buttons` / `icon_button` elements; `trash` is the only icon;
- message metadata (docs.slack.dev "Using message metadata"): `{event_type, event_payload}`, returned
  by conversations.history / replies only with include_all_metadata.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .slack_limits import STREAM_TIMEOUT_SECONDS
from .slack_state import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    WORKSPACE_URL,
    Channel,
    Message,
    SlackError,
    SlackFile,
    Workspace,
    paginate,
    ts_key,
)

Args = dict[str, Any]
MethodHandler = Callable[[Args], Args]
UrlFor = Callable[..., str]

MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MODAL_TITLE = 24
MAX_PRIVATE_METADATA = 3_000
MAX_MARKDOWN = 12_000  # markdown_text per call, and all markdown blocks of one payload together
MAX_CONTEXT_ACTIONS = 5
ICONS = frozenset({"trash"})
MAX_SUGGESTED_PROMPTS = 4


class WebApi:
    """The methods the fake implements, dispatched by name."""

    def __init__(self, workspace: Workspace, url: UrlFor) -> None:
        self.workspace = workspace
        self._url = url
        self._methods = self._table()

    def call(self, method: str, args: Args, authorization: str) -> Args:
        """Slack's answer to one call, failures included."""
        try:
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            _check_token(method, args, authorization)
            return handler(args)
        except SlackError as error:
            return error.body()

    def _table(self) -> dict[str, MethodHandler]:
        return {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "assistant.threads.setStatus": self._assistant_set_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_set_prompts,
            "assistant.threads.setTitle": self._assistant_set_title,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.join": self._conversations_join,
            "conversations.list": self._conversations_list,
            "conversations.open": self._conversations_open,
            "reactions.get": self._reactions_get,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "users.list": self._users_list,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    def _auth_test(self, args: Args) -> Args:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: Args) -> Args:
        return {"ok": True, "url": self._url("/socket", "ws")}

    def _chat_post_message(self, args: Args) -> Args:
        channel = self._post_target(_required(args, "channel"))
        text = _message_content(args)
        message = self.workspace.add_message(
            channel.id,
            BOT_USER_ID,
            text,
            thread_ts=args.get("thread_ts") or None,
            bot_id=BOT_ID,
            blocks=args.get("blocks"),
            metadata=_metadata(args),
        )
        self._bot_replied(channel.id, message.thread_ts)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "message": self.workspace.render(message),
        }

    def _chat_update(self, args: Args) -> Args:
        message = self._own_message(args, "cant_update_message")
        if "text" in args or "blocks" in args:
            message.text = _message_content(args)
        if "blocks" in args:
            message.blocks = args["blocks"]
        if "metadata" in args:
            message.metadata = _metadata(args)
        message.edited = {"user": BOT_USER_ID, "ts": self.workspace.clock.next()}
        return {
            "ok": True,
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": self.workspace.render(message),
        }

    def _chat_delete(self, args: Args) -> Args:
        message = self._own_message(args, "cant_delete_message")
        self.workspace.delete(message)
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_post_ephemeral(self, args: Args) -> Args:
        channel = self.workspace.readable_channel(_required(args, "channel"))
        user = self.workspace.user(_required(args, "user")).id
        if user not in self.workspace.members(channel):
            raise SlackError("user_not_in_channel")
        text = _message_content(args)
        message_ts = self.workspace.clock.next()
        self.workspace.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "text": text,
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
                "message_ts": message_ts,
            }
        )
        return {"ok": True, "message_ts": message_ts}

    def _chat_get_permalink(self, args: Args) -> Args:
        message = self.workspace.message(_required(args, "channel"), _required(args, "message_ts"))
        link = f"{WORKSPACE_URL}archives/{message.channel}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return {"ok": True, "channel": message.channel, "permalink": link}

    def _chat_start_stream(self, args: Args) -> Args:
        channel = self._post_target(_required(args, "channel"))
        thread_ts = args.get("thread_ts") or None
        if channel.is_im and thread_ts is None:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] thread_ts is required in a DM"]}
            )
        if not channel.is_im:
            for name in ("recipient_team_id", "recipient_user_id"):
                if not args.get(name):
                    raise SlackError(f"missing_{name}")
        if channel.id in self.workspace.streaming_refused:
            raise SlackError(self.workspace.streaming_refused[channel.id])
        if thread_ts is not None:
            self.workspace.message(channel.id, thread_ts, error="thread_not_found")
        message = self.workspace.add_message(
            channel.id,
            BOT_USER_ID,
            _stream_text(args),
            thread_ts=thread_ts,
            bot_id=BOT_ID,
            stream="streaming",
            stream_heard=time.monotonic(),
        )
        self._bot_replied(channel.id, thread_ts)
        return {"ok": True, "channel": channel.id, "ts": message.ts}

    def _chat_append_stream(self, args: Args) -> Args:
        message = self._streaming_message(args)
        if not args.get("markdown_text") and not args.get("chunks"):
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] markdown_text or chunks is required"]}
            )
        message.text += _stream_text(args)
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_stop_stream(self, args: Args) -> Args:
        message = self._streaming_message(args)
        message.text += _stream_text(args)
        if args.get("blocks") is not None:
            _check_blocks(args["blocks"], MAX_MESSAGE_BLOCKS, "invalid_blocks")
            message.blocks = args["blocks"]
        if args.get("metadata") is not None:
            message.metadata = _metadata(args)
        message.stream = "stopped"
        return {"ok": True, "channel": message.channel, "ts": message.ts, "message": self.workspace.render(message)}

    def _streaming_message(self, args: Args) -> Message:
        message = self._own_message(args, "cant_update_message")
        if message.stream == "streaming" and time.monotonic() - message.stream_heard > STREAM_TIMEOUT_SECONDS:
            message.stream = "timed_out"
        if message.stream != "streaming":
            raise SlackError("message_not_in_streaming_state")
        message.stream_heard = time.monotonic()
        return message

    def _assistant_set_status(self, args: Args) -> Args:
        thread = self._assistant_thread(args)
        thread["status"] = str(args.get("status", ""))  # "" clears it
        thread.setdefault("statuses", []).append(thread["status"])
        return {"ok": True}

    def _bot_replied(self, channel: str, thread_ts: str | None) -> None:
        """Slack clears an assistant thread's status when the app replies in it."""
        thread = self.workspace.assistant_threads.get((channel, thread_ts or ""))
        if thread is not None and thread.get("status"):
            thread["status"] = ""
            thread["statuses"].append("")

    def _assistant_set_prompts(self, args: Args) -> Args:
        thread = self._assistant_thread(args)
        prompts = _required(args, "prompts")
        valid = isinstance(prompts, list) and all(
            isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts
        )
        if not valid or not 0 < len(prompts) <= MAX_SUGGESTED_PROMPTS:
            raise SlackError(
                "invalid_arguments",
                response_metadata={
                    "messages": [f"[ERROR] prompts: 1 to {MAX_SUGGESTED_PROMPTS} objects with title and message"]
                },
            )
        thread["prompts"] = prompts
        thread["prompts_title"] = args.get("title")
        return {"ok": True}

    def _assistant_set_title(self, args: Args) -> Args:
        self._assistant_thread(args)["title"] = str(_required(args, "title"))
        return {"ok": True}

    def _assistant_thread(self, args: Args) -> Args:
        channel = self.workspace.channel(_required(args, "channel_id"))
        thread_ts = _required(args, "thread_ts")
        if not channel.is_im:
            raise SlackError("channel_not_found")  # assistant threads live in the person's DM with the app
        self.workspace.message(channel.id, thread_ts, error="thread_not_found")
        return self.workspace.assistant_threads.setdefault((channel.id, thread_ts), {})

    def _conversations_replies(self, args: Args) -> Args:
        channel = self.workspace.readable_channel(_required(args, "channel"))
        thread = self.workspace.thread(channel.id, _required(args, "ts"))
        return self._message_page(_in_time_range(thread, args), args, default_limit=1000)

    def _conversations_history(self, args: Args) -> Args:
        channel = self.workspace.readable_channel(_required(args, "channel"))
        messages = _in_time_range(self.workspace.history(channel.id), args)
        return self._message_page(messages, args, default_limit=100) | {"pin_count": 0}

    def _conversations_info(self, args: Args) -> Args:
        channel = self._visible_channel(_required(args, "channel"))
        data = channel.to_dict()
        if _flag(args, "include_num_members"):
            data["num_members"] = len(self.workspace.members(channel))
        return {"ok": True, "channel": data}

    def _conversations_members(self, args: Args) -> Args:
        channel = self._visible_channel(_required(args, "channel"))
        page = paginate(self.workspace.members(channel), args.get("cursor"), _int(args, "limit", 100))
        return {"ok": True, "members": page.items, "response_metadata": {"next_cursor": page.next_cursor}}

    def _conversations_join(self, args: Args) -> Args:
        channel = self.workspace.channel(_required(args, "channel"))
        if channel.is_im or channel.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        body: Args = {"ok": True}
        if channel.is_member:
            body |= {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.is_member = True
        if channel.members is not None and BOT_USER_ID not in channel.members:
            channel.members.append(BOT_USER_ID)
        return body | {"channel": channel.to_dict()}

    def _conversations_list(self, args: Args) -> Args:
        types = set(str(args.get("types") or "public_channel").split(","))
        channels = [
            c.to_dict()
            for c in self.workspace.channels.values()
            if _kind(c) in types and not (c.is_private and not c.is_member)
        ]
        page = paginate(channels, args.get("cursor"), _int(args, "limit", 100))
        return {"ok": True, "channels": page.items, "response_metadata": {"next_cursor": page.next_cursor}}

    def _conversations_open(self, args: Args) -> Args:
        if "channel" in args:
            return {"ok": True, "channel": {"id": self.workspace.channel(args["channel"]).id}}
        users = [u for u in str(_required(args, "users")).split(",") if u]
        if len(users) != 1:
            raise SlackError("not_supported", detail="the fake opens one-person DMs only")
        return {"ok": True, "channel": {"id": self.workspace.im_with(users[0]).id}}

    def _reactions_get(self, args: Args) -> Args:
        message = self._reaction_target(args)
        return {
            "ok": True,
            "type": "message",
            "channel": message.channel,
            "message": self.workspace.render(message),
        }

    def _reactions_add(self, args: Args) -> Args:
        message = self._reaction_target(args)
        users = message.reactions.setdefault(_reaction_name(args), [])
        if BOT_USER_ID in users:
            raise SlackError("already_reacted")
        users.append(BOT_USER_ID)
        return {"ok": True}

    def _reactions_remove(self, args: Args) -> Args:
        message = self._reaction_target(args)
        users = message.reactions.get(_reaction_name(args), [])
        if BOT_USER_ID not in users:
            raise SlackError("no_reaction")
        users.remove(BOT_USER_ID)
        return {"ok": True}

    def _users_list(self, args: Args) -> Args:
        users = [u.to_dict() for u in self.workspace.users.values()]
        page = paginate(users, args.get("cursor"), _int(args, "limit", 0))
        return {
            "ok": True,
            "members": page.items,
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": page.next_cursor},
        }

    def _users_info(self, args: Args) -> Args:
        return {"ok": True, "user": self.workspace.user(_required(args, "user")).to_dict()}

    def _views_open(self, args: Args) -> Args:
        _required(args, "trigger_id")
        return {"ok": True, "view": self._store_view(_view_arg(args))}

    def _views_push(self, args: Args) -> Args:
        _required(args, "trigger_id")
        modals = [v for v in self.workspace.views.values() if v["type"] != "home"]
        previous = modals[-1] if modals else None
        root = previous["root_view_id"] if previous else None
        previous_id = previous["id"] if previous else None
        view = self._store_view(_view_arg(args), root_view_id=root, previous_view_id=previous_id)
        return {"ok": True, "view": view}

    def _views_update(self, args: Args) -> Args:
        current = self._find_view(args)
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._store_view(
            _view_arg(args),
            view_id=current["id"],
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        return {"ok": True, "view": view}

    def _views_publish(self, args: Args) -> Args:
        user = self.workspace.user(_required(args, "user_id")).id
        spec = _view_arg(args)
        if spec.get("type") != "home":
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] views.publish needs a view of type home"]},
            )
        current = self.workspace.home_tabs.get(user)
        view = self._store_view(spec, view_id=current["id"] if current else None)
        self.workspace.home_tabs[user] = view
        return {"ok": True, "view": view}

    def _files_get_upload_url(self, args: Args) -> Args:
        filename = _required(args, "filename")
        _int(args, "length", _required(args, "length"))
        file_id = self.workspace.new_id("F")
        self.workspace.uploads[file_id] = {"filename": filename, "content": None}
        return {"ok": True, "upload_url": self._url(f"/upload/v1/{file_id}"), "file_id": file_id}

    def _files_complete_upload(self, args: Args) -> Args:
        channel_id = args.get("channel_id") or None
        if channel_id:
            self._check_can_post(self.workspace.channel(channel_id))
        done = [self._complete_file(f, args, channel_id) for f in _required(args, "files")]
        if channel_id:
            self.workspace.add_message(
                channel_id,
                BOT_USER_ID,
                args.get("initial_comment") or "",
                bot_id=BOT_ID,
                thread_ts=args.get("thread_ts") or None,
                files=[f.to_dict() for f in done],
            )
        return {"ok": True, "files": [f.to_dict() for f in done]}

    # -- helpers -------------------------------------------------------------

    def _post_target(self, channel_id: str) -> Channel:
        """A channel id, or a person's user id (which posts into the bot's DM with them)."""
        if channel_id not in self.workspace.channels and channel_id in self.workspace.users:
            return self.workspace.im_with(channel_id)
        channel = self.workspace.channel(channel_id)
        self._check_can_post(channel)
        return channel

    def _check_can_post(self, channel: Channel) -> None:
        if not channel.is_im and not channel.is_member:
            raise SlackError("not_in_channel")

    def _visible_channel(self, channel_id: str) -> Channel:
        channel = self.workspace.channel(channel_id)
        if channel.is_private and not channel.is_member:
            raise SlackError("channel_not_found")
        return channel

    def _own_message(self, args: Args, refusal: str) -> Message:
        message = self.workspace.message(_required(args, "channel"), _required(args, "ts"))
        if message.user != BOT_USER_ID:
            raise SlackError(refusal)
        return message

    def _reaction_target(self, args: Args) -> Message:
        channel = self.workspace.readable_channel(_required(args, "channel"))
        return self.workspace.message(channel.id, _required(args, "timestamp"))

    def _message_page(self, messages: list[Message], args: Args, default_limit: int) -> Args:
        page = paginate(messages, args.get("cursor"), _int(args, "limit", default_limit))
        with_metadata = _flag(args, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self.workspace.render(m, with_metadata=with_metadata) for m in page.items],
            "has_more": page.has_more,
            "response_metadata": {"next_cursor": page.next_cursor},
        }

    def _store_view(
        self,
        spec: Args,
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> Args:
        _check_view(spec)
        view_id = view_id or self.workspace.new_id("V")
        view = {
            **spec,
            "id": view_id,
            "team_id": TEAM_ID,
            "type": spec.get("type", "modal"),
            "blocks": spec.get("blocks", []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "external_id": spec.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{view_id}",
            "clear_on_close": spec.get("clear_on_close", False),
            "notify_on_close": spec.get("notify_on_close", False),
            "root_view_id": root_view_id or view_id,
            "previous_view_id": previous_view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self.workspace.views[view_id] = view
        return view

    def _find_view(self, args: Args) -> Args:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments")
        for view in self.workspace.views.values():
            if (view_id and view["id"] == view_id) or (external_id and view["external_id"] == external_id):
                return view
        raise SlackError("not_found")

    def _complete_file(self, item: Args, args: Args, channel_id: str | None) -> SlackFile:
        upload = self.workspace.uploads.pop(item.get("id", ""), None)
        if upload is None or upload["content"] is None:
            raise SlackError("file_not_found")
        slack_file = SlackFile(
            item["id"],
            upload["filename"],
            item.get("title") or upload["filename"],
            upload["content"],
            channel_id,
            args.get("thread_ts") or None,
            args.get("initial_comment") or None,
        )
        self.workspace.files.append(slack_file)
        return slack_file


# -- argument and content checks ------------------------------------------------


def _required(args: Args, name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] missing required field: {name}"]}
        )
    return value


def _int(args: Args, name: str, default: int | None) -> int:
    value = args.get(name, default)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] {name} must be an integer"]}
        ) from None


def _flag(args: Args, name: str) -> bool:
    return str(args.get(name, "")).lower() in ("1", "true")


def _check_token(method: str, args: Args, authorization: str) -> None:
    token = authorization.removeprefix("Bearer ").strip() or str(args.get("token", ""))
    if not token:
        raise SlackError("not_authed")
    app_level = method == "apps.connections.open"
    if token.startswith("xapp-") != app_level:
        raise SlackError("not_allowed_token_type")
    if not app_level and not token.startswith(("xoxb-", "xoxp-")):
        raise SlackError("invalid_auth")


def _message_content(args: Args) -> str:
    """The message's text, after the checks Slack makes on text and blocks."""
    text = str(args.get("text") or "")
    blocks = args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        _check_blocks(blocks, MAX_MESSAGE_BLOCKS, "invalid_blocks")
    return text


def _check_blocks(blocks: Any, limit: int, error: str) -> None:
    problems = []
    if not isinstance(blocks, list):
        problems.append("blocks must be a list")
    elif len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    else:
        problems += [
            f"section text is longer than {MAX_SECTION_TEXT} characters [json-pointer:/blocks/{i}]"
            for i, block in enumerate(blocks)
            if _section_text_length(block) > MAX_SECTION_TEXT
        ]
        problems += _ai_block_problems(blocks)
    if problems:
        raise SlackError(error, response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})


def _ai_block_problems(blocks: list[Any]) -> list[str]:
    """The markdown and context_actions rules."""
    problems = []
    markdown = sum(len(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "markdown")
    if markdown > MAX_MARKDOWN:
        problems.append(f"markdown blocks hold more than {MAX_MARKDOWN} characters in total")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "context_actions":
            continue
        elements = block.get("elements") or []
        if not 0 < len(elements) <= MAX_CONTEXT_ACTIONS:
            problems.append(f"context_actions needs 1 to {MAX_CONTEXT_ACTIONS} elements [json-pointer:/blocks/{i}]")
        for element in elements:
            kind = element.get("type")
            if kind == "icon_button" and (element.get("icon") not in ICONS or not element.get("text")):
                problems.append(f"icon_button needs an icon in {sorted(ICONS)} and text [json-pointer:/blocks/{i}]")
            elif kind == "feedback_buttons" and not (element.get("positive_button") and element.get("negative_button")):
                problems.append(f"feedback_buttons needs both buttons [json-pointer:/blocks/{i}]")
            elif kind not in ("icon_button", "feedback_buttons"):
                problems.append(f"context_actions cannot hold {kind} [json-pointer:/blocks/{i}]")
    return problems


def _metadata(args: Args) -> Args | None:
    """`{event_type, event_payload}`, as Slack stores it on the message."""
    metadata = args.get("metadata")
    if metadata is None:
        return None
    if not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def _stream_text(args: Args) -> str:
    """The markdown a stream call adds: `markdown_text`, or the text of its markdown_text chunks."""
    pieces = [str(args.get("markdown_text") or "")]
    chunks = args.get("chunks") or []
    if not isinstance(chunks, list) or not all(isinstance(c, dict) and c.get("type") for c in chunks):
        raise SlackError("invalid_chunks")
    pieces += [str(c.get("text", "")) for c in chunks if c["type"] == "markdown_text"]
    if any(len(piece) > MAX_MARKDOWN for piece in pieces):
        raise SlackError("msg_too_long")
    return "".join(pieces)


def _section_text_length(block: Any) -> int:
    if not isinstance(block, dict) or block.get("type") != "section":
        return 0
    text = block.get("text") or {}
    return len(text.get("text", "")) if isinstance(text, dict) else 0


def _view_arg(args: Args) -> Args:
    view = _required(args, "view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments")
    return view


def _check_view(view: Args) -> None:
    _check_blocks(view.get("blocks", []), MAX_VIEW_BLOCKS, "invalid_arguments")
    title = (view.get("title") or {}).get("text", "")
    problems = []
    if view.get("type") == "modal" and len(title) > MAX_MODAL_TITLE:
        problems.append(f"must be less than {MAX_MODAL_TITLE + 1} characters [json-pointer:/view/title/text]")
    if len(view.get("private_metadata", "")) > MAX_PRIVATE_METADATA:
        problems.append(
            f"must be less than {MAX_PRIVATE_METADATA + 1} characters [json-pointer:/view/private_metadata]"
        )
    if problems:
        raise SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})


def _kind(channel: Channel) -> str:
    """The conversations.list `types` value a channel answers to."""
    if channel.is_im:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


def _reaction_name(args: Args) -> str:
    return str(_required(args, "name")).strip(":")


def _in_time_range(messages: list[Message], args: Args) -> list[Message]:
    """Slack's `oldest`/`latest` window, exclusive unless `inclusive` is set."""
    oldest = Decimal(str(args.get("oldest") or "0"))
    latest = Decimal(str(args["latest"])) if args.get("latest") else None
    inclusive = _flag(args, "inclusive")

    def inside(message: Message) -> bool:
        ts = ts_key(message.ts)
        above = ts >= oldest if inclusive else ts > oldest
        below = latest is None or (ts <= latest if inclusive else ts < latest)
        return above and below

    return [m for m in messages if inside(m)]
