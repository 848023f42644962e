"""Processes stored events through the Bolt app, a few at a time; picks up leftovers at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers import REPLAY_KEY
from handlers.errors import FAILURE_KEY, FINAL_ATTEMPT_KEY, is_permanent, reason
from storage.inbox import InboxRow
from tuning.capture.inbox import GIVE_UP_AFTER_ATTEMPTS, Inbox

log = logging.getLogger(__name__)
# Slack re-sends what is not acknowledged within 3 s, while processing can wait: during a burst of events
# the worker starts the next one only once the burst is over (Inbox.settled), or after this long
# regardless, so a steady stream slows it down but never stops it.
ACKS_FIRST_SECONDS = 0.5
# A transiently failing event is tried again after 30 s, then 2 min (GIVE_UP_AFTER_ATTEMPTS tries in all).
RETRY_BASE_SECONDS = 30.0
RETRY_FACTOR = 4


class InboxWorker:
    def __init__(
        self,
        app: AsyncApp,
        inbox: Inbox,
        *,
        concurrency: int = 8,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        rescan_seconds: float | None = None,
    ) -> None:
        """`on_outcome` hears "processed", or how an attempt failed: "permanent", "gave_up" or "retry".
        `rescan_seconds`: with other replicas, look this often for events whose claim expired (a replica
        died holding them); None when this process is the only one (nothing else writes the inbox)."""
        self._app = app
        self._concurrency = concurrency
        self._rescan_seconds = rescan_seconds
        self._on_outcome = on_outcome
        self._inbox = inbox
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._retries: set[asyncio.Task[None]] = set()
        self._stopping = False

    def notify(self) -> None:
        self._wake.set()

    @property
    def retries_waiting(self) -> int:
        """Events waiting for their next try after a transient failure."""
        return len(self._retries)

    @property
    def idle(self) -> bool:
        return not self._running and not self._wake.is_set()

    async def run(self) -> None:
        """Claim events a few at a time (never more than the slots can start soon, so other replicas get the
        rest), process each in a slot; between bursts wait to be woken, or rescan for orphaned claims."""
        while not self._stopping:
            self._wake.clear()
            await self._slots.acquire()  # a free slot before claiming: claimed events start at once
            self._slots.release()
            rows = await self._inbox.claim(limit=self._concurrency)
            for row in rows:
                await self._slots.acquire()
                await self._inbox.settled(ACKS_FIRST_SECONDS)
                if not self._start(row):
                    return
            if not rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._rescan_seconds)

    async def _process(self, row: InboxRow) -> None:
        try:
            if not await self._inbox.begin(row):
                return
            final = row.attempts + 1 >= GIVE_UP_AFTER_ATTEMPTS
            context = {REPLAY_KEY: row.id, FINAL_ATTEMPT_KEY: final}
            request = AsyncBoltRequest(body=json.loads(row.body), mode="socket_mode", context=context)
            response = await self._app.async_dispatch(request)
            if response.status < 500:
                await self._inbox.done(row.id)
                self._on_outcome("processed")
                return
            await self._after_failure(replace(row, attempts=row.attempts + 1), request.context.get(FAILURE_KEY), final)
        except Exception:
            log.exception("event %s could not be processed", row.event_id)
        finally:
            self._slots.release()

    async def _after_failure(self, row: InboxRow, error: BaseException | None, final: bool) -> None:
        """Close an event whose failure will not change (or that has had its tries); retry the others later.
        The row stays pending meanwhile, so a restart replays it too."""
        if error is not None and is_permanent(error):
            await self._inbox.done(row.id, error=reason(error))
            self._on_outcome("permanent")
        elif final:
            why = reason(error) if error is not None else "unknown error"
            await self._inbox.done(row.id, error=f"gave up after {row.attempts} attempts: {why}")
            self._on_outcome("gave_up")
        elif not self._stopping:
            self._on_outcome("retry")
            delay = RETRY_BASE_SECONDS * RETRY_FACTOR ** (row.attempts - 1)
            task = asyncio.create_task(self._retry(row, delay), name=f"inbox-retry-{row.id}")
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _retry(self, row: InboxRow, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._slots.acquire()
        self._start(row)

    def _start(self, row: InboxRow) -> bool:
        """Process `row` in a slot already taken; False (and the slot given back) once stopping."""
        if self._stopping:
            self._slots.release()
            return False
        task = asyncio.create_task(self._process(row))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return True

    async def stop(self, timeout: float) -> None:
        """Stop taking events; let running ones finish for `timeout` seconds (the rest replay next start)."""
        self._stopping = True
        self._wake.set()
        for retry in self._retries:  # still pending in the inbox: replayed at the next start
            retry.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
