"""GET /healthz (the process is alive), /readyz (it can do its work) and /metrics (Prometheus).

Served beside /slack/events in HTTP mode, and on TUNELOOP_HEALTH_PORT in Socket Mode (which has no HTTP
server of its own). /readyz answers 503, with what failed, when the database cannot be written, Slack cannot
be reached, or more events wait in the inbox than TUNELOOP_READY_MAX_BACKLOG.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from slack_sdk.errors import SlackApiError

from storage import DatabaseUnavailable
from storage.ops import inbox_backlog

if TYPE_CHECKING:
    from bot.runtime import Runtime

HEALTH_PATH, READY_PATH, METRICS_PATH = "/healthz", "/readyz", "/metrics"
SLACK_CHECK_SECONDS = 3.0
SLACK_CHECK_CACHE_SECONDS = 30.0  # probes come every few seconds; Slack is asked at most this often


class Health:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._slack_checked: tuple[float, str | None] | None = None  # (monotonic time, problem)

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_get(HEALTH_PATH, self.healthz)
        web_app.router.add_get(READY_PATH, self.readyz)
        web_app.router.add_get(METRICS_PATH, self.metrics)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        problems = {
            name: problem
            for name, problem in (
                ("database", await self._database()),
                ("slack", await self._slack()),
                ("inbox", await self._inbox()),
            )
            if problem
        }
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics(self, request: web.Request) -> web.Response:
        body = await self._runtime.metrics.exposition(self._runtime.db)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _database(self) -> str | None:
        try:
            await self._runtime.db.check_writable()
        except DatabaseUnavailable as error:
            return error.reason
        return None

    async def _slack(self) -> str | None:
        now = time.monotonic()
        if self._slack_checked is None or now - self._slack_checked[0] > SLACK_CHECK_CACHE_SECONDS:
            self._slack_checked = (now, await self._ask_slack())
        return self._slack_checked[1]

    async def _ask_slack(self) -> str | None:
        try:
            await asyncio.wait_for(self._runtime.app.client.auth_test(), SLACK_CHECK_SECONDS)
        except SlackApiError as error:
            return f"auth.test: {error.response.get('error')}"
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return f"unreachable: {str(error) or type(error).__name__}"
        return None

    async def _inbox(self) -> str | None:
        backlog = await inbox_backlog(self._runtime.db)
        limit = self._runtime.settings.ready_max_backlog
        if backlog.events <= limit:
            return None
        return f"{backlog.events} events waiting (limit {limit}), oldest {backlog.oldest_seconds:.0f} s"


@asynccontextmanager
async def side_server(runtime: Runtime, host: str, port: int) -> AsyncIterator[int]:
    """The health endpoints alone, for Socket Mode; yields the bound port."""
    web_app = web.Application()
    Health(runtime).add_routes(web_app)
    runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()
