"""Fine-tuning jobs as handlers and render see them."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict

from storage.states import JobStatus

TERMINAL: frozenset[JobStatus] = frozenset({"succeeded", "failed", "cancelled", "dismissed"})
ACTIVE: frozenset[JobStatus] = frozenset({"starting", "pending", "running", "cancelling"})
# How a self-hosted back-end's cost note starts ("self-hosted: 0.20 GPU-hours × $2 an hour").
SELF_HOSTED_NOTE = "self-hosted"


class JobView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    dataset: str
    trainer: str
    base_model: str
    method: str
    examples: int
    tokens: int
    epochs: int
    estimated_cost: float | None
    cost_note: str | None = None
    tokens_note: str | None = None
    state: JobStatus
    raw_status: str | None = None
    provider_job_id: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    channel: str
    card_ts: str | None = None
    requested_by: str
    started_by: str | None = None
    cancelled_by: str | None = None
    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    gpu_hours: float | None = None  # measured: the run's wall-clock × its GPUs (self-hosted back-ends)
    serving_note: str | None = None  # why the model server cannot load the adapter, when it cannot
    warnings: tuple[str, ...] = ()
    erased: bool = False  # trained on a dataset version built with data erased since (README, "Privacy")
    # Its back-end serves tuned models only on a dedicated endpoint (trainers.features.HasDedicatedEndpoints).
    dedicated: bool = False

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def self_hosted(self) -> bool:
        return (self.cost_note or "").startswith(SELF_HOSTED_NOTE)

    @property
    def progress(self) -> float | None:
        if not self.step or not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)

    def elapsed_seconds(self, now: datetime) -> float | None:
        start = _parse(self.started_at)
        end = _parse(self.finished_at) or now
        return (end - start).total_seconds() if start else None

    def eta_seconds(self, now: datetime) -> float | None:
        """Remaining time at the pace so far (steps done per second since the start)."""
        elapsed, progress = self.elapsed_seconds(now), self.progress
        if elapsed is None or not progress or progress >= 1 or not self.is_active:
            return None
        return elapsed * (1 - progress) / progress

    @property
    def cost_usd(self) -> float | None:
        """The cost of what was trained, at the estimate's price per token."""
        if self.trained_tokens is None or self.estimated_cost is None or not self.tokens or not self.epochs:
            return None
        return self.estimated_cost * self.trained_tokens / (self.tokens * self.epochs)


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)
