"""Serving: HTTP (aiohttp) at /slack/events or Socket Mode, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot import telemetry
from bot.health import Health, side_server
from bot.preflight import StartupError, check_app_token, check_bot_token, port_in_use
from bot.runtime import LEASE_TTL_SECONDS, Runtime
from bot.settings import Settings
from storage import Database, migrate, open_database
from storage import lease as lease_rows
from storage.lease import Holder, new_holder

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
SOCKET_CLOSE_SECONDS = 5.0


@asynccontextmanager
async def http_server(runtime: Runtime, host: str, port: int) -> AsyncIterator[int]:
    """Serve the app over HTTP; yields the bound port (useful with port 0)."""
    web_app = runtime.app.web_app(path=EVENTS_PATH)
    web_app.middlewares.append(_unreadable_is_a_bad_request)
    Health(runtime).add_routes(web_app)
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
        signature is None or signature.isascii()
    )


@asynccontextmanager
async def socket_mode(runtime: Runtime) -> AsyncIterator[AsyncSocketModeHandler]:
    assert runtime.settings.slack_app_token is not None
    handler = AsyncSocketModeHandler(runtime.app, runtime.settings.slack_app_token.get_secret_value())
    await handler.connect_async()
    log.info("connected to Slack in Socket Mode")
    try:
        yield handler
    finally:
        # With Slack unreachable the client may be inside its reconnect loop: do not wait for it forever.
        try:
            await asyncio.wait_for(handler.close_async(), SOCKET_CLOSE_SECONDS)
        except TimeoutError:
            log.warning("the Socket Mode connection did not close within %.0f s; leaving it", SOCKET_CLOSE_SECONDS)


async def serve(settings: Settings, *, http: bool, port: int, host: str = "0.0.0.0") -> None:
    """Check everything, then serve until SIGTERM or SIGINT. A signal before serving began cancels start-up."""
    loop = asyncio.get_running_loop()
    starting = asyncio.current_task()
    assert starting is not None
    stop = asyncio.Event()
    serving = False

    def on_signal() -> None:
        if serving and not stop.is_set():
            stop.set()
        else:  # still starting (e.g. Slack unreachable), or a second signal: do not wait any longer
            starting.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    db, lease = await open_for_serving(settings)
    runtime = await Runtime.start(settings, db=db, lease=lease, preflight=preflight(settings, http=http))
    traces = telemetry.configure()
    freeze_start_up_heap()
    try:
        async with _listening(runtime, http=http, host=host, port=port):
            serving = True
            await _first_of(stop.wait(), runtime.lease_lost.wait())
            log.info("stopping: finishing work in progress")
    finally:
        await runtime.close()
        if traces is not None:
            await asyncio.to_thread(traces.shutdown)  # flushes what is still queued
    log.info("stopped cleanly")


@asynccontextmanager
async def _listening(runtime: Runtime, *, http: bool, host: str, port: int) -> AsyncIterator[None]:
    async with AsyncExitStack() as servers:
        health_port = runtime.settings.health_port
        try:
            if http:
                await servers.enter_async_context(http_server(runtime, host, port))
            elif health_port is not None:
                await servers.enter_async_context(side_server(runtime, host, health_port))
        except OSError as error:
            busy = port_in_use(error, port if http else health_port or 0)
            if busy is None:
                raise
            raise busy from None
        if not http:
            await servers.enter_async_context(socket_mode(runtime))
        yield


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def open_for_serving(settings: Settings) -> tuple[Database, Holder | None]:
    """The database, writable and migrated, with this process's writer lease on SQLite (PostgreSQL takes any
    number of replicas: no lease); StartupError if it cannot be."""
    db = await open_database(settings.database, home=settings.data_home)
    try:
        await db.check_writable()
        await migrate(db)
        if db.dialect == "postgresql":
            return db, None
        me = new_holder(LEASE_TTL_SECONDS)
        other = await lease_rows.acquire(db, me)
    except BaseException:
        await db.close()
        raise
    if other is not None:
        await db.close()
        raise StartupError(
            f"another Tuneloop is serving from {settings.db_path} ({other.describe()}): stop it first; "
            "one process serves one SQLite file (README, 'One process per SQLite file'; replicas need PostgreSQL)."
        )
    return db, me


def preflight(settings: Settings, *, http: bool) -> Callable[[AsyncWebClient], Awaitable[None]]:
    """What Runtime.start checks with its Slack client before anything is processed."""

    async def check(client: AsyncWebClient) -> None:
        team = await check_bot_token(client)
        if not http and settings.slack_app_token is not None:
            await check_app_token(client, settings.slack_app_token.get_secret_value())
        log.info("Slack accepted the bot token for %s", team)

    return check


def freeze_start_up_heap() -> None:
    """Keep what start-up built (modules, clients, settings; alive until exit) out of the cyclic GC's full
    collections, which otherwise walk all of it and pause the event loop for every request in flight: about
    120 ms on a 2-vCPU VM, the whole of the ack path's p99 (bench/ingest.py --no-freeze)."""
    gc.collect()
    gc.freeze()
