"""A fake Slack: the Web API at /api/<method>, file uploads, response_url and Socket Mode.

    async with FakeSlack() as slack:
        slack.add_channel("C1", "general")
        ts = slack.add_message("C1", "U1", "hello")
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)

Web API answers follow Slack's shapes; failures are HTTP 200 `{"ok": false, "error": ...}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp import web

from .server import ARGS, FakeServer, Fault, retry_after_headers
from .slack_limits import RateTiers
from .slack_methods import Args, WebApi
from .slack_socket import SocketModeHub
from .slack_state import (
    APP_ID,
    BOT_USER_ID,
    TEAM_ID,
    Reactions,
    SlackFile,
    TsClock,
    Workspace,
    ts_key,
)

# Arguments slack_sdk sends JSON-encoded inside form or query bodies.
JSON_ARGS = frozenset({"blocks", "attachments", "view", "files", "metadata", "unfurls", "chunks", "prompts"})
SCOPES = (
    "app_mentions:read,channels:history,channels:join,channels:read,chat:write,commands,"
    "files:write,groups:history,groups:read,im:history,im:read,im:write,reactions:read,"
    "reactions:write,users:read,assistant:write,mpim:history,mpim:read"
)


class FakeSlack(FakeServer):
    """Workspace T0001 with the bot U0BOT (bot id B0BOT, app A0001), seeded by the test."""

    def __init__(self, *, clock_start: float | None = None) -> None:
        """`clock_start`: Unix time of the first generated ts (default: an hour ago)."""
        super().__init__()
        self.workspace = Workspace(TsClock(clock_start))
        self.socket = SocketModeHub()
        self.responses: list[dict[str, Any]] = []
        # The bot token's scopes, sent as X-OAuth-Scopes on every Web API answer (as Slack does); a test
        # removes some to see the app refuse to start.
        self.scopes = SCOPES
        self._api_methods = WebApi(self.workspace, self.url)
        # The published rate tiers of the streaming methods (slack_limits.py); a test may turn them off.
        self.rate_tiers = RateTiers()

    # -- URLs ------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.url("/api/")

    @property
    def socket_url(self) -> str:
        return self.url("/socket", scheme="ws")

    def response_url(self, name: str = "x") -> str:
        return self.url(f"/response/{name}")

    # -- what the app did --------------------------------------------------

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        """chat.postEphemeral calls: channel, user, text, blocks, thread_ts, message_ts."""
        return self.workspace.ephemerals

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Every view opened, pushed, updated or published, by view id."""
        return self.workspace.views

    @property
    def home_tabs(self) -> dict[str, dict[str, Any]]:
        """The Home tab published for each user id."""
        return self.workspace.home_tabs

    @property
    def assistant_threads(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Status, suggested prompts and title set on each assistant thread, by (channel, thread_ts)."""
        return self.workspace.assistant_threads

    def refuse_streaming(self, channel: str, error: str = "channel_type_not_supported") -> None:
        """chat.startStream in `channel` answers `error` from now on (a surface without streaming: Slack's
        documented code is `channel_type_not_supported`)."""
        self.workspace.streaming_refused[channel] = error

    def still_streaming(self) -> list[dict[str, Any]]:
        """The bot's messages whose stream was started and never stopped (nor timed out)."""
        return [self.workspace.render(m) for m in self.workspace.all_messages() if m.stream == "streaming"]

    @property
    def files(self) -> list[SlackFile]:
        """Completed uploads, in order, with their bytes."""
        return self.workspace.files

    # -- seeding and inspection -------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str = "",
        display_name: str = "",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> None:
        self.workspace.add_user(id, name, real_name, display_name, is_bot, deleted)

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
    ) -> None:
        """`user` is the other party of an IM; `members` overrides the default membership; `is_ext_shared` a
        Slack Connect channel (shared with another organisation)."""
        self.workspace.add_channel(id, name, is_member, is_im, is_private, user, members, is_ext_shared)

    def add_message(
        self,
        channel: str,
        user: str | None,
        text: str,
        thread_ts: str | None = None,
        reactions: Reactions | None = None,
        bot_id: str | None = None,
        ts: str | None = None,
    ) -> str:
        """Seed a message; `reactions` is `{"+1": ["U1"]}` or Slack's list shape. Returns its ts."""
        return self.workspace.add_message(channel, user, text, thread_ts, reactions, bot_id, ts).ts

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        return self.workspace.render(self.workspace.message(channel, ts))

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Root then replies, as conversations.replies answers (a reply's ts: that reply alone)."""
        return [self.workspace.render(m) for m in self.workspace.thread(channel, ts)]

    def history(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages, newest first."""
        return [self.workspace.render(m) for m in self.workspace.history(channel)]

    def bot_messages(self) -> list[dict[str, Any]]:
        """Everything the bot has posted (and not deleted), oldest first."""
        mine = [m for m in self.workspace.all_messages() if m.user == BOT_USER_ID]
        return [self.workspace.render(m) for m in sorted(mine, key=lambda m: ts_key(m.ts))]

    def event_callback(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        """Wrap an event the way the Events API delivers it (HTTP body or Socket Mode payload)."""
        return {
            "token": "verification-token-test",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self.workspace.new_id("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    @staticmethod
    def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
        """Headers that make `body` a request signed by Slack with `secret`."""
        ts = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}

    # -- Socket Mode ---------------------------------------------------------

    async def socket_send(
        self,
        payload: dict[str, Any],
        type: str = "events_api",
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
    ) -> dict[str, Any]:
        """Send an envelope to the connected client and return its ack message."""
        return await self.socket.send(payload, type, timeout, accepts_response_payload)

    async def wait_socket_connected(self, timeout: float = 5.0) -> None:
        await self.socket.wait_connected(timeout)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        await self.socket.disconnect(reason)

    @property
    def socket_acks(self) -> list[dict[str, Any]]:
        return self.socket.acks

    # -- FakeServer hooks ----------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/socket", self.socket.handle)

    def _method_of(self, request: web.Request) -> str | None:
        path = request.path
        if path.startswith("/api/"):
            return path.removeprefix("/api/")
        if path.startswith("/upload/"):
            return "upload_url"
        if path.startswith("/response/"):
            return "response_url"
        return None

    async def _parse_args(self, request: web.Request) -> Args:
        args: Args = dict(request.query)
        if request.path.startswith("/upload/"):
            return args | dict(request.match_info)  # the handler reads the raw body
        if request.content_type == "application/json":
            body = await request.json() if request.can_read_body else {}
            args |= body if isinstance(body, dict) else {}
        elif request.can_read_body:
            args |= {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        return {k: _decode_json_arg(k, v) for k, v in args.items() if v is not None}

    def _fault_response(self, fault: Fault) -> web.StreamResponse:
        status = fault.status or 200
        default_error = {429: "ratelimited"}.get(status, "internal_error")
        body = {"ok": False, "error": fault.error or default_error}
        return web.json_response(body, status=status, headers=retry_after_headers(fault))

    async def _before_stop(self) -> None:
        await self.socket.close()

    # -- HTTP handlers -------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        retry_after = self.rate_tiers.retry_after(TEAM_ID, request.match_info["method"])
        if retry_after is not None:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry_after), "X-OAuth-Scopes": self.scopes},
            )
        body = self._api_methods.call(request.match_info["method"], request[ARGS], authorization)
        return web.json_response(body, headers={"X-OAuth-Scopes": self.scopes})

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.workspace.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="file not found")
        upload["content"] = await _read_upload_body(request)
        return web.Response(text=f"OK - {len(upload['content'])}")

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append(request[ARGS])
        return web.Response(text="ok")


# -- request helpers ---------------------------------------------------------


def _decode_json_arg(name: str, value: Any) -> Any:
    if name in JSON_ARGS and isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


async def _read_upload_body(request: web.Request) -> bytes:
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        part = await reader.next()
        return bytes(await part.read()) if part is not None else b""  # type: ignore[union-attr]
    return await request.read()
