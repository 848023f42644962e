"""Every service the handlers call, built once by the composition root (bot) and handed out by
`handlers.register`: each feature module receives only the ones it uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tuning.answering.memory import Memory
from tuning.answering.service import Answerer
from tuning.capture.corrections import Corrections
from tuning.capture.examples import Capture
from tuning.capture.feedback_reasons import FeedbackReasons
from tuning.capture.harvest import Harvester
from tuning.capture.inbox import Inbox
from tuning.capture.privacy import Privacy
from tuning.capture.review import Review
from tuning.capture.stats import StatsService
from tuning.release.evaluation.service import Evaluations
from tuning.release.lifecycle.service import Lifecycle
from tuning.release.promotion import Promotions
from tuning.release.quality import QualityAlerts
from tuning.training.datasets.service import DatasetService
from tuning.training.endpoints import EndpointService
from tuning.training.jobs.service import JobService


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
