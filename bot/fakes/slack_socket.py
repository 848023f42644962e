"""Socket Mode's websocket, as the Slack side sees it.

The client connects to the URL that apps.connections.open returned, receives
`hello`, and must acknowledge every envelope by sending back its envelope_id.
aiohttp answers the client's pings (autoping) so the SDK's stale-connection
check stays happy.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .slack_state import APP_ID


class SocketModeHub:
    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connected = asyncio.Event()

    @property
    def connection_count(self) -> int:
        return len(self._sockets)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json(self._hello())
            self._connected.set()
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(message.data)
        finally:
            self._forget(ws)
        return ws

    async def send(
        self,
        payload: dict[str, Any],
        type: str = "events_api",
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
    ) -> dict[str, Any]:
        """Send one envelope to the newest connection and return the client's ack."""
        ws = self._newest()
        envelope_id = str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = type != "events_api"
        envelope = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = ack
        try:
            await ws.send_json(envelope)
            return await asyncio.wait_for(ack, timeout)
        except TimeoutError:
            raise TimeoutError(f"no ack for {type} envelope {envelope_id} within {timeout}s") from None
        finally:
            self._pending.pop(envelope_id, None)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does every few hours."""
        await self._newest().send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})

    async def wait_connected(self, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no Socket Mode client connected within {timeout}s") from None

    async def close(self) -> None:
        for ack in self._pending.values():
            if not ack.done():
                ack.set_exception(ConnectionError("the fake stopped before the client acked"))
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": len(self._sockets),
            "connection_info": {"app_id": APP_ID},
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
        }

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        self.acks.append(message)
        ack = self._pending.get(message["envelope_id"])
        if ack is not None and not ack.done():
            ack.set_result(message)

    def _newest(self) -> web.WebSocketResponse:
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise RuntimeError("no Socket Mode client is connected")
        return open_sockets[-1]

    def _forget(self, ws: web.WebSocketResponse) -> None:
        self._sockets.remove(ws)
        if not self._sockets:
            self._connected.clear()
