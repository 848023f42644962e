"""Processes stored events through the Bolt app, a few at a time; picks up leftovers at start-up."""

from __future__ import annotations

import asyncio
import json
import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers import REPLAY_KEY
from tuning.inbox import Inbox

log = logging.getLogger(__name__)
# Slack re-sends what is not acknowledged within 3 s, while processing can wait: during a burst of events
# the worker starts the next one only once the burst is over (Inbox.settled), or after this long
# regardless, so a steady stream slows it down but never stops it.
ACKS_FIRST_SECONDS = 0.5


class InboxWorker:
    def __init__(self, app: AsyncApp, inbox: Inbox, *, concurrency: int = 8) -> None:
        self._app = app
        self._inbox = inbox
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._seen_up_to = 0
        self._stopping = False

    def notify(self) -> None:
        self._wake.set()

    @property
    def idle(self) -> bool:
        return not self._running and not self._wake.is_set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            rows = await self._inbox.pending(after_id=self._seen_up_to)
            for row in rows:
                self._seen_up_to = row.id
                await self._slots.acquire()
                await self._inbox.settled(ACKS_FIRST_SECONDS)
                if self._stopping:
                    self._slots.release()
                    return
                task = asyncio.create_task(self._process(row))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if not rows:
                await self._wake.wait()

    async def _process(self, row) -> None:
        try:
            if not await self._inbox.begin(row):
                return
            request = AsyncBoltRequest(body=json.loads(row.body), mode="socket_mode", context={REPLAY_KEY: row.id})
            response = await self._app.async_dispatch(request)
            # A listener that raised leaves the row pending: it is tried again at the next start-up.
            if response.status < 500:
                await self._inbox.done(row.id)
        except Exception:
            log.exception("event %s could not be processed", row.event_id)
        finally:
            self._slots.release()

    async def stop(self, timeout: float) -> None:
        """Stop taking events; let running ones finish for `timeout` seconds (the rest replay next start)."""
        self._stopping = True
        self._wake.set()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
