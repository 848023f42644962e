"""Serving: HTTP (aiohttp) at /slack/events or Socket Mode, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.runtime import Runtime
from bot.settings import Settings

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


@asynccontextmanager
async def http_server(runtime: Runtime, host: str, port: int) -> AsyncIterator[int]:
    """Serve the app over HTTP; yields the bound port (useful with port 0)."""
    web_app = runtime.app.web_app(path=EVENTS_PATH)
    web_app.middlewares.append(_unreadable_is_a_bad_request)
    runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    log.info("listening on http://%s:%s%s", host, bound, EVENTS_PATH)
    try:
        yield bound
    finally:
        await runner.cleanup()


@web.middleware
async def _unreadable_is_a_bad_request(request: web.Request, handler) -> web.StreamResponse:
    """Bolt raises, rather than answers, when the signature headers are not numbers and text (then the
    request is unsigned: 401, and no listener or error message ever runs for it), and when a body is
    not the JSON or form it expects (the sender's mistake: 400, not a 500 with a stack trace at ERROR)."""
    if not _signature_headers_readable(request.headers):
        return web.json_response({"error": "invalid request"}, status=401)
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.warning("refused a request Bolt could not read", exc_info=True)
        return web.Response(status=400, text="malformed request")


def _signature_headers_readable(headers: Mapping[str, str]) -> bool:
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    return (timestamp is None or (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 20)) and (
        signature is None or signature.isascii())


@asynccontextmanager
async def socket_mode(runtime: Runtime) -> AsyncIterator[AsyncSocketModeHandler]:
    assert runtime.settings.slack_app_token is not None
    handler = AsyncSocketModeHandler(runtime.app, runtime.settings.slack_app_token.get_secret_value())
    await handler.connect_async()
    log.info("connected to Slack in Socket Mode")
    try:
        yield handler
    finally:
        await handler.close_async()


async def serve(settings: Settings, *, http: bool, port: int, host: str = "0.0.0.0") -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runtime = await Runtime.start(settings)
    freeze_start_up_heap()
    try:
        server = http_server(runtime, host, port) if http else socket_mode(runtime)
        async with server:
            await stop.wait()
            log.info("stopping: finishing work in progress")
    finally:
        await runtime.close()
    log.info("stopped cleanly")


def freeze_start_up_heap() -> None:
    """Keep what start-up built (modules, clients, settings; alive until exit) out of the cyclic GC's full
    collections, which otherwise walk all of it and pause the event loop for every request in flight: about
    120 ms on a 2-vCPU VM, the whole of the ack path's p99 (bench/ingest.py --no-freeze)."""
    gc.collect()
    gc.freeze()
