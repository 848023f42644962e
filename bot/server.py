"""Serving: HTTP (aiohttp) at /slack/events or Socket Mode, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
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
    try:
        server = http_server(runtime, host, port) if http else socket_mode(runtime)
        async with server:
            await stop.wait()
            log.info("stopping: finishing work in progress")
    finally:
        await runtime.close()
    log.info("stopped cleanly")
