"""The job monitor: polls active jobs, records progress, keeps each job's card current, finishes each job once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from typing import Any, Protocol

from storage import jobs as job_rows
from storage.db import Database
from storage.jobs import JobEventRow, JobRow, MetricRow
from tuning import telemetry
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView
from tuning.training.trainers import EventPage, MetricPoint, Trainer, get_trainer

log = logging.getLogger(__name__)
CARD_INTERVAL_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 600.0


class JobPublisher(Protocol):
    """Where job progress goes (the Slack card and its thread); implemented by handlers."""

    async def update_card(self, job: JobView) -> None: ...

    async def post_in_thread(self, job: JobView, text: str, *, level: str) -> None: ...

    async def finished(self, job: JobView, metrics: list[MetricPoint]) -> None: ...


OnSucceeded = Callable[[JobView], Awaitable[None]]
EachTick = Callable[[], Awaitable[None]]


class JobMonitor:
    def __init__(
        self,
        db: Database,
        jobs: JobService,
        trainers: Mapping[str, Trainer],
        publisher: JobPublisher,
        *,
        poll_seconds: float,
        wake: asyncio.Event | None = None,
        on_succeeded: OnSucceeded | None = None,
        card_interval: float | None = None,
        each_tick: EachTick | None = None,
    ) -> None:
        # Also followed every tick (from the database, so a restart resumes it): endpoints being deployed.
        self._each_tick = each_tick
        self._db = db
        self._jobs = jobs
        self._trainers = trainers
        self._publisher = publisher
        self._poll_seconds = poll_seconds
        self._on_succeeded = on_succeeded
        self._card_interval = CARD_INTERVAL_SECONDS if card_interval is None else card_interval
        self._card_updated: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._next_poll: dict[str, float] = {}
        # Set by whoever starts or cancels a job, so the monitor polls at once.
        self._wake = wake or asyncio.Event()
        self._polling = asyncio.Lock()  # the loop and a test's tick() must not poll the same job at once

    async def run(self) -> None:
        """Forever: one tick, then wait. Nothing a provider does can end this loop."""
        while True:
            await self.tick()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        async with self._polling:
            await self._tick()
            if self._each_tick is not None:
                try:
                    await self._each_tick()
                except Exception:
                    log.warning("following endpoints failed; trying again next tick", exc_info=True)

    async def _tick(self) -> None:
        active = await job_rows.active(self._db)
        self._forget_all_but({job.id for job in active})
        for job in active:
            if time.monotonic() < self._next_poll.get(job.id, 0):
                continue
            try:
                await self.poll(job)
                self._failures.pop(job.id, None)
            except Exception:
                self._back_off(job.id)

    def _forget_all_but(self, active: set[str]) -> None:
        """What is kept per job lives while the job is active: a bot that runs for years keeps no more."""
        for per_job in (self._card_updated, self._failures, self._next_poll):
            for job_id in per_job.keys() - active:
                del per_job[job_id]

    @property
    def followed(self) -> int:
        """How many jobs the monitor keeps anything for (bounded by the active jobs)."""
        return len(self._card_updated.keys() | self._failures.keys() | self._next_poll.keys())

    def _back_off(self, job_id: str) -> None:
        failures = self._failures[job_id] = self._failures.get(job_id, 0) + 1
        delay = min(MAX_BACKOFF_SECONDS, self._poll_seconds * 2**failures)
        self._next_poll[job_id] = time.monotonic() + delay
        log.warning("polling job %s failed (%d in a row); next try in %.0fs", job_id, failures, delay, exc_info=True)

    async def poll(self, job: JobRow) -> None:
        if job.state == "starting":  # a Start interrupted by a restart: find or create the provider job
            await self._jobs.launch(job.id)
            await self._refresh_card(job.id, force=True)
            return
        trainer = get_trainer(self._trainers, job.trainer)
        assert job.provider_job_id is not None
        remote = await trainer.get_job(job.provider_job_id)
        page = await trainer.events_since(job.provider_job_id, job.event_cursor)
        await self._record(job, page)
        await self._jobs.apply(job.id, remote)
        await self._post_events(job.id)
        await self._refresh_card(job.id, force=remote.terminal)
        if remote.terminal:
            await self._finish(job.id)

    async def _record(self, job: JobRow, page: EventPage) -> None:
        await job_rows.add_metrics(
            self._db,
            job.id,
            [
                MetricRow(
                    step=p.step,
                    total_steps=p.total_steps,
                    epoch=p.epoch,
                    train_loss=p.train_loss,
                    valid_loss=p.valid_loss,
                    token_accuracy=p.token_accuracy,
                )
                for p in page.metrics
            ],
        )
        await job_rows.add_events(
            self._db,
            job.id,
            [
                JobEventRow(event_id=e.id, created_at=e.created_at.isoformat(), level=e.level, message=e.message)
                for e in page.events
            ],
        )
        progress: dict[str, Any] = {"event_cursor": page.cursor or job.event_cursor}
        if page.metrics:
            latest = max(page.metrics, key=lambda point: point.step)
            progress |= {
                "step": latest.step,
                "total_steps": latest.total_steps or job.total_steps,
                "epoch": latest.epoch,
            }
            progress |= {
                name: value for name in ("train_loss", "valid_loss") if (value := _latest(page, name)) is not None
            }
        await job_rows.update(self._db, job.id, **progress)

    async def _post_events(self, job_id: str) -> None:
        view = await self._jobs.view(job_id)
        if not view.card_ts:
            return
        for event in await job_rows.unposted_events(self._db, job_id):
            await self._publisher.post_in_thread(view, event.message, level=event.level)
            await job_rows.mark_posted(self._db, job_id, event.event_id)

    async def _refresh_card(self, job_id: str, *, force: bool) -> None:
        """At most one card update per interval; the last one (the job's end) waits for its turn."""
        since = time.monotonic() - self._card_updated.get(job_id, float("-inf"))
        if since < self._card_interval:
            if not force:
                return
            await asyncio.sleep(self._card_interval - since)
        view = await self._jobs.view(job_id)
        if view.card_ts:
            await self._publisher.update_card(view)
            self._card_updated[job_id] = time.monotonic()

    async def _finish(self, job_id: str) -> None:
        if not await job_rows.claim_finish_post(self._db, job_id):
            return
        view = await self._jobs.view(job_id)
        points = [MetricPoint(**asdict(row)) for row in await job_rows.metrics(self._db, job_id)]
        telemetry.training_job_span(
            job_id=view.id,
            trainer=view.trainer,
            base_model=view.base_model,
            method=view.method,
            state=view.state,
            created_at=view.created_at,
            finished_at=view.finished_at,
            fine_tuned_model=view.fine_tuned_model,
            trained_tokens=view.trained_tokens,
            error=view.error_message,
        )
        await self._publisher.finished(view, points)
        if view.state == "succeeded" and self._on_succeeded is not None:
            await self._on_succeeded(view)


def _latest(page: EventPage, name: str) -> float | None:
    values = [getattr(point, name) for point in sorted(page.metrics, key=lambda p: p.step)]
    present = [value for value in values if value is not None]
    return present[-1] if present else None
