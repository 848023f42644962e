"""Every service the handlers call, built once by the composition root (bot) and handed out by
`handlers.register`: each feature module receives only the ones it uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tuning.answering import Answerer
from tuning.capture import Capture
from tuning.corrections import Corrections
from tuning.datasets.service import DatasetService
from tuning.endpoints import EndpointService
from tuning.evaluation.service import Evaluations
from tuning.feedback_reasons import FeedbackReasons
from tuning.harvest import Harvester
from tuning.inbox import Inbox
from tuning.jobs.service import JobService
from tuning.lifecycle.service import Lifecycle
from tuning.memory import Memory
from tuning.privacy import Privacy
from tuning.quality import QualityAlerts
from tuning.promotion import Promotions
from tuning.review import Review
from tuning.stats import StatsService


@dataclass(frozen=True)
class Services:
    inbox: Inbox
    answers: Answerer
    capture: Capture
    corrections: Corrections
    review: Review
    harvester: Harvester
    insights: StatsService
    datasets: DatasetService
    jobs: JobService
    evaluations: Evaluations
    promotions: Promotions
    lifecycle: Lifecycle
    endpoints: EndpointService
    privacy: Privacy
    memory: Memory
    feedback_reasons: FeedbackReasons
    quality: QualityAlerts
    current_model: Callable[[], Awaitable[str]]
    wake_monitor: Callable[[], None]
    admins: frozenset[str]
