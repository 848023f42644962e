"""Prometheus metrics at /metrics, on a registry of this app's own (tests run many apps in one process).

Counters of what happens in this process (events acknowledged, processed, failed; Slack and provider retries) are counted
as it happens; what the database knows (backlog, answers and their latency, votes, jobs) is read from it at
each scrape, so it is right after a restart too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from storage import Database
from storage.ops import snapshot

LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        # Set by the runtime to its model router's: the provider label of a failed answer's model.
        self.provider_of: Callable[[str], Awaitable[str]] = _unrouted
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_acknowledged = Counter(
            "tuneloop_events_acknowledged", "Events stored and acknowledged to Slack", registry=r
        )
        self.events_processed = Counter("tuneloop_events_processed", "Stored events processed", registry=r)
        self.events_failed = Counter("tuneloop_events_failed", "Event attempts that failed", ["outcome"], registry=r)
        self.slack_retries = Counter("tuneloop_slack_retries", "Slack Web API calls retried", ["reason"], registry=r)
        self.provider_retries = Counter(
            "tuneloop_provider_retries", "Model provider API calls retried", ["provider", "reason"], registry=r
        )
        self.inbox_backlog = Gauge("tuneloop_inbox_backlog", "Events stored but not yet processed", registry=r)
        self.inbox_oldest = Gauge("tuneloop_inbox_oldest_seconds", "Age of the oldest unprocessed event", registry=r)
        self.answers = Gauge("tuneloop_answers", "Answers by status", ["status"], registry=r)
        self.answer_latency = Histogram(
            "tuneloop_answer_latency_seconds", "Time to answer a question", buckets=LATENCY_BUCKETS, registry=r
        )
        self.model_errors = Gauge(
            "tuneloop_model_errors", "Answers that failed, by model provider", ["provider"], registry=r
        )
        self.votes = Gauge("tuneloop_votes", "Votes counted on examples", ["direction"], registry=r)
        self.jobs = Gauge("tuneloop_jobs", "Fine-tuning jobs by state", ["state"], registry=r)
        self.replica = Info("tuneloop_replica", "This process among the replicas sharing the database", registry=r)
        self.leader = Gauge(
            "tuneloop_leader",
            "1 while this replica leads (runs the job monitor, lifecycle watch and retention), else 0",
            registry=r,
        )
        self._answers_seen = 0

    def provider_retry(self, provider: str) -> Callable[[str], None]:
        """What a provider's client calls with the reason of each retry it makes."""
        return lambda reason: self.provider_retries.labels(provider, reason).inc()

    def set_replica(self, name: str, dialect: str) -> None:
        self.replica.info({"name": name, "database": dialect})

    def set_leading(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def event_outcome(self, outcome: str) -> None:
        """From the inbox worker: "processed", or why an attempt failed ("retry", "permanent", "gave_up")."""
        if outcome == "processed":
            self.events_processed.inc()
        else:
            self.events_failed.labels(outcome).inc()

    async def exposition(self, db: Database) -> bytes:
        """Refresh what the database knows, then the text format Prometheus scrapes."""
        now = await snapshot(db, answers_after=self._answers_seen)
        self.inbox_backlog.set(now.inbox_backlog)
        self.inbox_oldest.set(now.oldest_pending_seconds)
        for status, count in now.answers.items():
            self.answers.labels(status).set(count)
        providers: dict[str, int] = {}
        for model, count in now.failed_answers_by_model.items():
            provider = await self.provider_of(model)
            providers[provider] = providers.get(provider, 0) + count
        for provider, count in providers.items():
            self.model_errors.labels(provider).set(count)
        for answer_id, latency_ms in now.new_latencies_ms:
            self.answer_latency.observe(latency_ms / 1000)
            self._answers_seen = answer_id
        for direction, count in now.votes.items():
            self.votes.labels(direction).set(count)
        for state, count in now.jobs.items():
            self.jobs.labels(state).set(count)
        return generate_latest(self.registry)


async def _unrouted(model: str) -> str:
    return "unknown"
