"""The composition root: settings in, a running app (database, clients, services, workers) out."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import openai
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.settings import Settings
from bot.tasks import TaskTracker
from bot.worker import InboxWorker
from storage import Database, migrate, open_database
from tuning.answering import Answerer
from tuning.inbox import Inbox
from tuning.inference import ChatClient
from tuning.services import Services

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 10.0


def slack_client(settings: Settings) -> AsyncWebClient:
    """Slack's Web API, retrying 429 after Retry-After, 5xx and dropped connections."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


def openai_client(settings: Settings) -> openai.AsyncOpenAI:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return openai.AsyncOpenAI(api_key=key, base_url=settings.openai_base_url, max_retries=3, timeout=60.0)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    app: AsyncApp
    services: Services
    worker: InboxWorker
    tasks: TaskTracker
    llm: openai.AsyncOpenAI
    _worker_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, settings: Settings, *, llm: openai.AsyncOpenAI | None = None) -> Runtime:
        db = await open_database(settings.db_path)
        applied = await migrate(db)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        llm = llm or openai_client(settings)
        services = build_services(settings, db, llm)
        app = AsyncApp(
            client=slack_client(settings),
            signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
            process_before_response=True,
        )
        tasks = TaskTracker()
        worker = InboxWorker(app, services.inbox)
        handlers.register(app, services, spawn=tasks.spawn, on_event_stored=worker.notify)
        runtime = cls(settings, db, app, services, worker, tasks, llm)
        runtime._worker_task = asyncio.create_task(worker.run(), name="inbox-worker")
        return runtime

    async def close(self) -> None:
        """Finish what is running (within a grace period), then close clients and the database."""
        await self.worker.stop(SHUTDOWN_GRACE_SECONDS)
        if self._worker_task:
            self._worker_task.cancel()
            await asyncio.gather(self._worker_task, return_exceptions=True)
        await self.tasks.drain(SHUTDOWN_GRACE_SECONDS)
        await self.llm.close()
        await self.db.close()


def build_services(settings: Settings, db: Database, llm: openai.AsyncOpenAI) -> Services:
    async def current_model() -> str:
        return settings.model

    answers = Answerer(db, ChatClient(llm), current_model=current_model, system_prompt=settings.system_prompt)
    return Services(inbox=Inbox(db), answers=answers, admins=settings.admins)
