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
from bot.replicas import CLAIM_SECONDS, Replica, replica_name
from bot.settings import Settings
from bot.tasks import TaskTracker
from bot.worker import InboxWorker
from handlers.endpoints import endpoint_ready
from handlers.evaluations import after_job_succeeded
from handlers.grammar import Grammar
from handlers.guard import RefuseMalformed
from handlers.jobs import SlackJobPublisher
from handlers.lifecycle import SlackLifecyclePublisher
from handlers.quality import SlackQualityPublisher
from handlers.services import Services
from handlers.slack_retries import slack_retry_handlers
from handlers.stream_budget import DbStreamBudget, LocalStreamBudget, StreamBudget
from providers import ChatClient
from providers.embeddings import embedder
from providers.listing import OpenAIListing
from providers.openai_trainer import utc_today
from providers.registry import build_trainers, known_specs, unconfigured_hints
from providers.sdk_retries import counting_retries
from providers.serving import AdapterChatClient
from providers.spec import BuildContext
from storage import Database, migrate, open_database, rate_buckets
from storage import jobs as job_rows
from storage import lease as lease_rows
from storage.lease import Holder
from tuning.answering.memory import Embed, Memory
from tuning.answering.routing import ModelRouter
from tuning.answering.service import Answerer
from tuning.capture.corrections import Corrections
from tuning.capture.examples import Capture
from tuning.capture.feedback_reasons import FeedbackReasons
from tuning.capture.feedback_traces import FeedbackTraces
from tuning.capture.harvest import Harvester
from tuning.capture.inbox import Inbox
from tuning.capture.members import MemberDirectory
from tuning.capture.privacy import Privacy
from tuning.capture.review import Review
from tuning.capture.stats import StatsService
from tuning.catalogue.entries import Catalogue, load_catalogue
from tuning.ports import ChatModel
from tuning.release.evaluation.service import Evaluations
from tuning.release.gate import PromotionGate
from tuning.release.lifecycle.canary import CanaryService
from tuning.release.lifecycle.fallback import Fallback
from tuning.release.lifecycle.notices import Announcements, LifecyclePublisher
from tuning.release.lifecycle.retirement import RetirementWatch
from tuning.release.lifecycle.service import Lifecycle
from tuning.release.lifecycle.successor import SuccessorMigrations
from tuning.release.promotion import Promotions
from tuning.release.quality import QualityAlerts, QualityPublisher, QualitySettings, QualityState
from tuning.training.datasets.service import DatasetService
from tuning.training.endpoints import EndpointService
from tuning.training.jobs.monitor import JobMonitor
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView
from tuning.training.trainers import Trainer, close_trainers
from tuning.training.trainers.features import HasDedicatedEndpoints
from tuning.training.trainers.open_models import SELF_HOSTED_PROVIDER

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
    replica: Replica | None = None
    metrics: Metrics = field(default_factory=Metrics)
    lease_lost: asyncio.Event = field(default_factory=asyncio.Event)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        llm: openai.AsyncOpenAI | None = None,
        db: Database | None = None,
        lease: Holder | None = None,
        preflight: Callable[[AsyncWebClient], Awaitable[None]] | None = None,
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
    async def _assemble(
        cls,
        settings: Settings,
        db: Database,
        client: AsyncWebClient,
        llm: openai.AsyncOpenAI | None,
        lease: Holder | None,
        metrics: Metrics,
    ) -> Runtime:
        openai_sdk = llm or openai_client(settings)
        llm = counting_retries(openai_sdk, metrics.provider_retry("openai"))
        # The process's one catalogue: the operator's models.toml in the data folder laid over the packaged one,
        # read once, off the event loop (it is file I/O); a changed models.toml needs a restart.
        catalogue = await asyncio.to_thread(catalogue_for, settings)
        trainers = trainers_for(settings, llm, catalogue)
        together_sdk = together_chat_client(settings)
        together = counting_retries(together_sdk, metrics.provider_retry("together")) if together_sdk else None
        served = served_chat_client(settings)
        wake = asyncio.Event()
        replica = Replica(db, replica_name(), on_leading=metrics.set_leading)
        metrics.set_replica(replica.name, db.dialect)
        await replica.start()
        embeddings = embeddings_client(settings, llm)
        router = model_router(settings, llm, together, served, catalogue=catalogue, db=db)
        metrics.provider_of = router.route
        services = build_services(
            settings,
            db,
            router,
            trainers,
            wake,
            catalogue=catalogue,
            publisher=SlackLifecyclePublisher(client),
            listing=OpenAIListing(llm, catalogue),
            embed=embedder(embeddings, settings.embedding_model) if settings.embedding_model else None,
            quality_publisher=SlackQualityPublisher(client),
            replica=replica.name,
        )
        await services.memory.configure(min_votes=settings.memory_votes)
        app = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
            process_before_response=True,
            before_authorize=RefuseMalformed(),  # after the signature check, before Bolt reads the payload
        )
        tasks = TaskTracker()
        worker = InboxWorker(
            app, services.inbox, on_outcome=metrics.event_outcome, rescan_seconds=replica.rescan_seconds
        )
        evaluate_job = after_job_succeeded(services.evaluations, app.client, services.lifecycle.migrations)

        async def on_succeeded(job: JobView) -> None:
            tasks.spawn(evaluate_job(job))  # an evaluation takes minutes: the monitor must not wait for it

        publisher = SlackJobPublisher(app.client)
        services.jobs.on_progress = publisher.update_card
        announce_ready = endpoint_ready(services.jobs, app.client, evaluate=lambda job: tasks.spawn(evaluate_job(job)))

        async def follow_endpoints() -> None:
            for endpoint in await services.endpoints.follow():
                await announce_ready(endpoint)

        monitor = JobMonitor(
            db,
            services.jobs,
            trainers,
            publisher,
            poll_seconds=settings.poll_seconds,
            wake=wake,
            on_succeeded=on_succeeded,
            each_tick=follow_endpoints,
        )

        def on_event_stored() -> None:
            metrics.events_acknowledged.inc()
            worker.notify()

        handlers.register(
            app,
            services,
            spawn=tasks.spawn,
            on_event_stored=on_event_stored,
            suggested_prompts=settings.suggested_prompts,
            grammar=tune_grammar(),
            budget=stream_budget(db),
        )
        watch = DailyWatch(services.lifecycle, poll_seconds=settings.lifecycle_poll_seconds)
        # The counting copies have HTTP clients of their own; the originals' are closed too.
        model_clients = [client for client in (llm, together, served, openai_sdk, together_sdk) if client is not None]
        model_clients += [embeddings] if embeddings is not llm else []
        runtime = cls(
            settings, db, app, services, worker, monitor, watch, tasks, model_clients, trainers, lease, replica, metrics
        )
        # Periodic work runs on the leader only (with one process, that is always this one).
        periodic = [
            ("job-monitor", monitor.run),
            ("lifecycle-watch", watch.run),
            ("retention", runtime._prune_daily),
            ("memory-embeddings", runtime._embed_memories),
            ("quality-alerts", runtime._watch_quality),
        ]
        runtime._background = [
            asyncio.create_task(worker.run(), name="inbox-worker"),
            asyncio.create_task(replica.keep_claims(), name="replica-claims"),
            asyncio.create_task(replica.lead(periodic), name="replica-leadership"),
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

    async def _watch_quality(self) -> None:
        """Quality alerts (tuning/release/quality.py), every TUNELOOP_QUALITY_CHECK_SECONDS."""
        while True:
            await asyncio.sleep(self.settings.quality_check_seconds)
            try:
                await self.services.quality.check()
            except Exception:  # Slack or the database briefly unavailable: the next round sends it
                log.warning("quality check failed; trying again later", exc_info=True)

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
        if self.replica is not None:
            await self.replica.stop()
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


def trainers_for(settings: Settings, llm: openai.AsyncOpenAI, catalogue: Catalogue | None = None) -> dict[str, Trainer]:
    """Every back-end these settings configure (providers/registry.py's specs)."""
    catalogue = catalogue or catalogue_for(settings)
    return build_trainers(BuildContext(settings.values(), llm, catalogue, settings.artifacts_root, utc_today))


def tune_grammar() -> Grammar:
    """`/tune` offers every known back-end (one not configured here is refused with its spec's hint)."""
    return Grammar([spec.name for spec in known_specs()])


def catalogue_for(settings: Settings) -> Catalogue:
    """The packaged catalogue with the operator's models.toml (in the data folder) laid over it."""
    return load_catalogue(settings.data_home)


def model_router(
    settings: Settings,
    llm: openai.AsyncOpenAI,
    together: openai.AsyncOpenAI | None,
    served: openai.AsyncOpenAI | None = None,
    *,
    catalogue: Catalogue | None = None,
    db: Database | None = None,
) -> ModelRouter:
    """OpenAI (or Azure) models through OPENAI_BASE_URL; Together models through Together's OpenAI-compatible API;
    self-hosted models through TUNELOOP_SERVE_URL, their adapters loaded first. Which is which: the catalogue's
    `provider`, and for a tuned model its job's back-end (`db`)."""
    clients: dict[str, ChatModel] = {"openai": ChatClient(llm)}
    if together is not None:
        clients["together"] = ChatClient(together, provider="together")
    if served is not None and settings.serve_url:
        clients[SELF_HOSTED_PROVIDER] = AdapterChatClient(served, settings.serve_url, settings.artifacts_root)

    async def trainer_of(model: str) -> str | None:
        return await job_rows.trainer_of_model(db, model) if db is not None else None

    return ModelRouter(
        clients,
        catalogue or catalogue_for(settings),
        trainer_of=trainer_of,
        trainer_providers={spec.name: spec.provider for spec in known_specs()},
    )


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
    return openai.AsyncOpenAI(
        api_key=settings.together_api_key.get_secret_value(),
        base_url=settings.together_base_url,
        max_retries=3,
        timeout=60.0,
    )


def build_services(
    settings: Settings,
    db: Database,
    router: ModelRouter,
    trainers: Mapping[str, Trainer],
    wake: asyncio.Event,
    *,
    publisher: LifecyclePublisher,
    listing: OpenAIListing | None = None,
    catalogue: Catalogue | None = None,
    embed: Embed | None = None,
    quality_publisher: QualityPublisher | None = None,
    replica: str = "",
) -> Services:
    """`catalogue`: the process's one (read beside the database when not given)."""
    catalogue = catalogue or catalogue_for(settings)
    members = MemberDirectory(db)
    traces = FeedbackTraces(db)
    memory = Memory(
        db,
        settings.admins,
        examples=settings.memory_examples,
        floor=settings.memory_floor,
        embed=embed,
        embedding_model=settings.embedding_model,
        min_similarity=settings.embedding_min_similarity,
    )
    capture = Capture(db, members, system_prompt=settings.system_prompt, min_votes=settings.min_votes, traces=traces)
    datasets = DatasetService(db, trainer=settings.trainer, min_votes=settings.min_votes, catalogue=catalogue)
    jobs = JobService(
        db,
        datasets,
        trainers,
        default_trainer=settings.trainer,
        max_cost_usd=settings.max_job_cost_usd,
        admins=settings.admins,
        prices_dir=datasets.root,
        tokenizers_dir=settings.tokenizers_dir,
        catalogue=catalogue,
        hints=unconfigured_hints(settings.values()),
    )
    dedicated = next(
        (trainer.endpoints for trainer in trainers.values() if isinstance(trainer, HasDedicatedEndpoints)), None
    )
    endpoints = EndpointService(
        db,
        jobs,
        dedicated,
        admins=settings.admins,
        catalogue=catalogue,
        inactive_minutes=settings.endpoint_idle_minutes,
    )
    evaluations = Evaluations(
        db,
        router,
        datasets,
        jobs,
        current_model=lambda: promotions.current(),
        judge_model=settings.judge_model,
        prices=catalogue.inference_price,
        serving=endpoints.serving_name,
        memory=memory,
    )
    promotions = Promotions(
        db,
        router,
        jobs,
        default_model=settings.model,
        admins=settings.admins,
        gate=PromotionGate(db, evaluations.gate_dataset),
        serving=endpoints.serving_name,
    )

    def the_catalogue() -> Catalogue:
        return catalogue

    lifecycle = build_lifecycle(
        settings,
        db,
        router,
        promotions,
        catalogue=the_catalogue,
        publisher=publisher,
        listing=listing,
        migrations=SuccessorMigrations(
            db, promotions, jobs, evaluations, catalogue=the_catalogue, admins=settings.admins
        ),
    )
    corrections = Corrections(db, capture, members, settings.admins, traces)
    return Services(
        inbox=Inbox(db, replica=replica, claim_seconds=CLAIM_SECONDS),
        answers=Answerer(
            db,
            router,
            model_for=lifecycle.canary.model_for,
            system_prompt=settings.system_prompt,
            replacement=lifecycle.fallback.replace,
            explain=endpoints.why_unavailable,
            memory=memory,
            replica=replica,
            claim_seconds=CLAIM_SECONDS,
            facts=catalogue.facts,
        ),
        capture=capture,
        corrections=corrections,
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
        feedback_reasons=FeedbackReasons(db, capture, corrections, traces),
        quality=QualityAlerts(
            db,
            lifecycle.announcements,
            quality_publisher or _NoQualityPublisher(),
            QualitySettings(
                recent=settings.quality_recent,
                baseline=settings.quality_baseline,
                min_rated=settings.quality_min_rated,
                failure_rate=settings.failure_alert_rate,
            ),
        ),
        current_model=promotions.current,
        wake_monitor=wake.set,
        admins=settings.admins,
    )


class _NoQualityPublisher:
    """Where nothing can post to Slack (the CLI): an alert is logged."""

    async def alert(self, channel: str, state: QualityState, cause: str) -> None:
        log.warning("quality alert (%s) not posted: no Slack client here", cause)


def build_lifecycle(
    settings: Settings,
    db: Database,
    router: ModelRouter,
    promotions: Promotions,
    *,
    catalogue: Callable[[], Catalogue],
    publisher: LifecyclePublisher,
    listing: OpenAIListing | None,
    migrations: SuccessorMigrations,
) -> Lifecycle:
    announcements = Announcements(db, publisher, channel=settings.announce_channel)
    canary = CanaryService(db, promotions, router, admins=settings.admins, catalogue=catalogue)
    watch = RetirementWatch(
        promotions,
        canary,
        announcements,
        catalogue=catalogue,
        listings=[listing] if listing else [],
        admins=settings.admins,
    )
    return Lifecycle(canary, Fallback(promotions, canary, announcements), watch, announcements, migrations)
