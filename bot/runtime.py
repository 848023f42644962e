"""The composition root: settings in, a running app (database, clients, services, workers) out."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import openai
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.lifecycle_watch import DailyWatch
from bot.metrics import Metrics
from bot.settings import Settings
from bot.tasks import TaskTracker
from bot.worker import InboxWorker
from handlers.endpoints import endpoint_ready
from handlers.evaluations import after_job_succeeded
from handlers.guard import RefuseMalformed
from handlers.jobs import SlackJobPublisher
from handlers.lifecycle import SlackLifecyclePublisher
from handlers.services import Services
from handlers.slack_retries import slack_retry_handlers
from handlers.stream_budget import DbStreamBudget, LocalStreamBudget, StreamBudget
from providers import ChatClient
from providers.embeddings import embedder
from providers.registry import SelfHosted
from providers.sdk_retries import counting_retries
from providers.serving import AdapterChatClient
from storage import Database, migrate, open_database
from storage import lease as lease_rows
from storage import rate_buckets
from storage.lease import Holder
from tuning.answering import Answerer
from tuning.capture import Capture
from tuning.catalogue import Catalogue, load_catalogue
from tuning.corrections import Corrections
from tuning.feedback_traces import FeedbackTraces
from tuning.datasets.service import DatasetService
from tuning.endpoints import EndpointService
from tuning.evaluation.service import Evaluations, inference_prices
from tuning.harvest import Harvester
from tuning.inbox import Inbox
from tuning.jobs.monitor import JobMonitor
from tuning.jobs.service import JobService
from tuning.jobs.types import JobView
from tuning.lifecycle.canary import CanaryService
from tuning.lifecycle.fallback import Fallback
from tuning.lifecycle.gate import PromotionGate
from providers.listing import OpenAIListing
from tuning.lifecycle.migration import Migrations
from tuning.lifecycle.notices import Announcements, LifecyclePublisher
from tuning.lifecycle.service import Lifecycle
from tuning.lifecycle.shutdown import ShutdownWatch
from tuning.members import MemberDirectory
from tuning.memory import Embed, Memory
from tuning.privacy import Privacy
from tuning.promotion import Promotions
from tuning.review import Review
from tuning.routing import ModelRouter
from tuning.stats import StatsService
from providers import TogetherTrainer, build_trainers
from tuning.trainers import Trainer, close_trainers

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 10.0
LEASE_TTL_SECONDS = 30.0  # a killed holder's lease is taken over after this (at once on the same host)
LEASE_RENEW_SECONDS = 10.0
PRUNE_EVERY_SECONDS = 3600.0
EMBED_EVERY_SECONDS = 5.0


class _TokenComesWithTheClient(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and warns, at every start, that it is unused
    because the app is given a client (ours, with its retry handlers) that already carries that token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_TokenComesWithTheClient())


def slack_client(settings: Settings, on_retry: Callable[[str], None] | None = None) -> AsyncWebClient:
    """Slack's Web API, retrying 429 after Retry-After, 5xx and dropped connections."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        retry_handlers=slack_retry_handlers(on_retry),
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
    monitor: JobMonitor
    watch: DailyWatch
    tasks: TaskTracker
    model_clients: list[openai.AsyncOpenAI]
    trainers: Mapping[str, Trainer]
    lease: Holder | None = None
    metrics: Metrics = field(default_factory=Metrics)
    lease_lost: asyncio.Event = field(default_factory=asyncio.Event)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(
        cls, settings: Settings, *, llm: openai.AsyncOpenAI | None = None, db: Database | None = None,
        lease: Holder | None = None, preflight: Callable[[AsyncWebClient], Awaitable[None]] | None = None,
    ) -> Runtime:
        """`db` (already opened, with this process's writer `lease`) is closed by close(), or here on failure;
        `preflight` checks the Slack client before any event is processed."""
        db = db or await open_database(settings.database, home=settings.data_home)
        try:
            applied = await migrate(db)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            metrics = Metrics()
            client = slack_client(settings, lambda reason: metrics.slack_retries.labels(reason).inc())
            if preflight is not None:
                await preflight(client)
        except BaseException:
            if lease is not None:
                await lease_rows.release(db, lease)
            await db.close()
            raise
        return await cls._assemble(settings, db, client, llm, lease, metrics)

    @classmethod
    async def _assemble(cls, settings: Settings, db: Database, client: AsyncWebClient, llm: openai.AsyncOpenAI | None,
                  lease: Holder | None, metrics: Metrics) -> Runtime:
        openai_sdk = llm or openai_client(settings)
        llm = counting_retries(openai_sdk, metrics.provider_retry("openai"))
        together_key = settings.together_api_key.get_secret_value() if settings.together_api_key else None
        # An operator's models.toml lives beside the database; read off the event loop (it is file I/O).
        catalogue = await asyncio.to_thread(load_catalogue, settings.data_home)
        trainers = build_trainers(llm, together_key, settings.together_base_url, catalogue=catalogue,
                                  selfhosted=selfhosted(settings))
        together_sdk = together_chat_client(settings)
        together = counting_retries(together_sdk, metrics.provider_retry("together")) if together_sdk else None
        served = served_chat_client(settings)
        wake = asyncio.Event()
        embeddings = embeddings_client(settings, llm)
        services = build_services(settings, db, model_router(settings, llm, together, served), trainers, wake,
                                  publisher=SlackLifecyclePublisher(client), listing=OpenAIListing(llm),
                                  embed=embedder(embeddings, settings.embedding_model) if settings.embedding_model
                                  else None)
        await services.memory.configure(min_votes=settings.memory_votes)
        app = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
            process_before_response=True,
            before_authorize=RefuseMalformed(),  # after the signature check, before Bolt reads the payload
        )
        tasks = TaskTracker()
        worker = InboxWorker(app, services.inbox, on_outcome=metrics.event_outcome)
        evaluate_job = after_job_succeeded(services.evaluations, app.client, services.lifecycle.migrations)

        async def on_succeeded(job: JobView) -> None:
            tasks.spawn(evaluate_job(job))  # an evaluation takes minutes: the monitor must not wait for it

        publisher = SlackJobPublisher(app.client)
        services.jobs.on_progress = publisher.update_card
        announce_ready = endpoint_ready(services.jobs, app.client, evaluate=lambda job: tasks.spawn(evaluate_job(job)))

        async def follow_endpoints() -> None:
            for endpoint in await services.endpoints.follow():
                await announce_ready(endpoint)

        monitor = JobMonitor(db, services.jobs, trainers, publisher, poll_seconds=settings.poll_seconds, wake=wake,
                             on_succeeded=on_succeeded, each_tick=follow_endpoints)

        def on_event_stored() -> None:
            metrics.events_acknowledged.inc()
            worker.notify()

        handlers.register(app, services, spawn=tasks.spawn, on_event_stored=on_event_stored,
                          suggested_prompts=settings.suggested_prompts, budget=stream_budget(db))
        watch = DailyWatch(services.lifecycle, poll_seconds=settings.lifecycle_poll_seconds)
        # The counting copies have HTTP clients of their own; the originals' are closed too.
        model_clients = [client for client in (llm, together, served, openai_sdk, together_sdk) if client is not None]
        model_clients += [embeddings] if embeddings is not llm else []
        runtime = cls(settings, db, app, services, worker, monitor, watch, tasks, model_clients, trainers, lease,
                      metrics)
        runtime._background = [
            asyncio.create_task(worker.run(), name="inbox-worker"),
            asyncio.create_task(monitor.run(), name="job-monitor"),
            asyncio.create_task(watch.run(), name="lifecycle-watch"),
            asyncio.create_task(runtime._prune_daily(), name="retention"),
            asyncio.create_task(runtime._embed_memories(), name="memory-embeddings"),
        ]
        if lease is not None:
            runtime._background.append(asyncio.create_task(runtime._keep_lease(lease), name="writer-lease"))
        return runtime

    async def _prune_daily(self) -> None:
        """Retention (README, "Privacy"): at start-up, then every PRUNE_EVERY_SECONDS."""
        while True:
            try:
                await self.services.privacy.prune()
            except Exception:  # a busy database: the next round catches up
                log.warning("retention pruning failed; trying again later", exc_info=True)
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    async def _embed_memories(self) -> None:
        """New memories get their embedding within seconds (TUNELOOP_EMBEDDING_MODEL); until then BM25 finds them."""
        if not self.settings.embedding_model:
            return
        while True:
            try:
                await self.services.memory.embed_pending()
            except Exception:  # an endpoint outage: answers use BM25 meanwhile, and this tries again
                log.warning("could not embed new memories; trying again later", exc_info=True)
            await asyncio.sleep(EMBED_EVERY_SECONDS)

    async def _keep_lease(self, lease: Holder) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_SECONDS)
            try:
                kept = await lease_rows.renew(self.db, lease, LEASE_TTL_SECONDS)
            except Exception:  # a busy or briefly unwritable file: try again at the next renewal
                log.warning("could not renew the writer lease", exc_info=True)
                continue
            if not kept:
                log.critical("another process took this database's writer lease: stopping")
                self.lease_lost.set()
                return

    async def close(self) -> None:
        """Finish what is running (within a grace period), then close clients and the database."""
        await self.worker.stop(SHUTDOWN_GRACE_SECONDS)
        await cancel_until_done(self._background)
        await self.tasks.drain(SHUTDOWN_GRACE_SECONDS)
        await close_trainers(self.trainers)
        for client in self.model_clients:
            await client.close()
        if self.lease is not None:
            await lease_rows.release(self.db, self.lease)
        await self.db.close()


async def cancel_until_done(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait for their end, cancelling again any that goes on: before Python 3.12,
    asyncio.wait_for drops a cancellation that arrives as its inner call completes (github.com/python/cpython
    issue 86296), and psycopg_pool waits for a connection through it, so a loop waiting on PostgreSQL can miss
    one cancel() and sleep on."""
    while pending := [task for task in tasks if not task.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=1.0)
    for task in tasks:  # retrieve their exceptions (a cancelled task has none to retrieve)
        if not task.cancelled():
            task.exception()


def embeddings_client(settings: Settings, llm: openai.AsyncOpenAI) -> openai.AsyncOpenAI:
    """TUNELOOP_EMBEDDING_BASE_URL if set (any OpenAI-compatible /embeddings), else the answering client."""
    if not settings.embedding_base_url:
        return llm
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return openai.AsyncOpenAI(api_key=key, base_url=settings.embedding_base_url, max_retries=2, timeout=10.0)


def selfhosted(settings: Settings) -> SelfHosted:
    token = settings.ray_token.get_secret_value() if settings.ray_token else None
    return SelfHosted(settings.artifacts_root, settings.ray_address, token, settings.gpu_hour_usd,
                      gpus_per_job=settings.gpus_per_job, ray_python=settings.ray_python,
                      ray_runtime_env=settings.ray_runtime_env)


def model_router(settings: Settings, llm: openai.AsyncOpenAI, together: openai.AsyncOpenAI | None,
                 served: openai.AsyncOpenAI | None = None) -> ModelRouter:
    """OpenAI (or Azure) models through OPENAI_BASE_URL; Together models through Together's OpenAI-compatible API;
    self-hosted models through TUNELOOP_SERVE_URL, their adapters loaded first."""
    clients = {"openai": ChatClient(llm)}
    if together is not None:
        clients["together"] = ChatClient(together, provider="together")
    if served is not None and settings.serve_url:
        clients["selfhost"] = AdapterChatClient(served, settings.serve_url, settings.artifacts_root)
    return ModelRouter(clients)


def served_chat_client(settings: Settings) -> openai.AsyncOpenAI | None:
    """TUNELOOP_SERVE_URL (vLLM or `tuneloop serve-model`): no key of its own; CPU answers can be slow."""
    if not settings.serve_url:
        return None
    return openai.AsyncOpenAI(api_key="not-needed", base_url=settings.serve_url, max_retries=2, timeout=300.0)


def stream_budget(db: Database) -> StreamBudget:
    """Slack's streaming budget: in the database where replicas may share it (PostgreSQL), else in this process
    (an SQLite file has one serving process: its writer lease)."""
    if db.dialect == "postgresql":
        return DbStreamBudget(functools.partial(rate_buckets.take, db))
    return LocalStreamBudget()


def together_chat_client(settings: Settings) -> openai.AsyncOpenAI | None:
    if settings.together_api_key is None:
        return None
    return openai.AsyncOpenAI(api_key=settings.together_api_key.get_secret_value(),
                              base_url=settings.together_base_url, max_retries=3, timeout=60.0)


def build_services(
    settings: Settings, db: Database, router: ModelRouter, trainers: Mapping[str, Trainer], wake: asyncio.Event, *,
    publisher: LifecyclePublisher, listing: OpenAIListing | None = None, embed: Embed | None = None,
) -> Services:
    members = MemberDirectory(db)
    traces = FeedbackTraces(db)
    memory = Memory(db, settings.admins, examples=settings.memory_examples, floor=settings.memory_floor,
                    embed=embed, embedding_model=settings.embedding_model)
    capture = Capture(db, members, system_prompt=settings.system_prompt, min_votes=settings.min_votes,
                      traces=traces)
    datasets = DatasetService(db, trainer=settings.trainer, min_votes=settings.min_votes)
    jobs = JobService(db, datasets, trainers, default_trainer=settings.trainer,
                      max_cost_usd=settings.max_job_cost_usd, admins=settings.admins, prices_dir=datasets.root,
                      tokenizers_dir=settings.tokenizers_dir)
    together = trainers.get("together")
    endpoints = EndpointService(db, jobs, together.endpoints if isinstance(together, TogetherTrainer) else None,
                                admins=settings.admins, inactive_minutes=settings.endpoint_idle_minutes)
    evaluations = Evaluations(db, router, datasets, jobs, current_model=lambda: promotions.current(),
                              judge_model=settings.judge_model, prices=inference_prices(datasets.root),
                              serving=endpoints.serving_name)
    promotions = Promotions(db, router, jobs, default_model=settings.model, admins=settings.admins,
                            gate=PromotionGate(db, evaluations.gate_dataset), serving=endpoints.serving_name)

    def catalogue() -> Catalogue:  # read at every call: an operator's edit needs no restart
        return load_catalogue(datasets.root)

    lifecycle = build_lifecycle(settings, db, router, promotions, catalogue=catalogue, publisher=publisher,
                                listing=listing, migrations=Migrations(db, promotions, jobs, evaluations,
                                                                       catalogue=catalogue, admins=settings.admins))
    return Services(
        inbox=Inbox(db),
        answers=Answerer(db, router, model_for=lifecycle.canary.model_for, system_prompt=settings.system_prompt,
                         replacement=lifecycle.fallback.replace, explain=endpoints.why_unavailable, memory=memory),
        capture=capture,
        corrections=Corrections(db, capture, members, settings.admins, traces),
        review=Review(db, settings.admins),
        harvester=Harvester(db, capture),
        insights=StatsService(db),
        datasets=datasets,
        jobs=jobs,
        evaluations=evaluations,
        promotions=promotions,
        lifecycle=lifecycle,
        endpoints=endpoints,
        privacy=Privacy(db, settings.admins, inbox_days=settings.inbox_days, message_days=settings.message_days),
        memory=memory,
        current_model=promotions.current,
        wake_monitor=wake.set,
        admins=settings.admins,
    )


def build_lifecycle(settings: Settings, db: Database, router: ModelRouter, promotions: Promotions, *,
                    catalogue: Callable[[], Catalogue], publisher: LifecyclePublisher,
                    listing: OpenAIListing | None, migrations: Migrations) -> Lifecycle:
    announcements = Announcements(db, publisher, channel=settings.announce_channel)
    canary = CanaryService(db, promotions, router, admins=settings.admins, catalogue=catalogue)
    watch = ShutdownWatch(promotions, canary, announcements, catalogue=catalogue,
                          listings=[listing] if listing else [], admins=settings.admins)
    return Lifecycle(canary, Fallback(promotions, canary, announcements), watch, announcements, migrations)
