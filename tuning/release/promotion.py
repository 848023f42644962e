"""Which model answers: promote a tuned model, roll back to the one before, and the history of both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from pydantic import BaseModel, ConfigDict

from storage import evaluations as evaluation_rows
from storage import models as model_rows
from storage.db import Database
from storage.models import ModelChangeRow
from storage.states import ModelAction
from tuning.admin import require_admin
from tuning.answering.routing import ModelRouter
from tuning.errors import TuningError
from tuning.release.evaluation.results import EvalSummary
from tuning.release.gate import GateCheck, PromotionGate
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView


class PromotionRefused(TuningError):
    """The gate said no; `check` carries the numbers."""

    def __init__(self, check: GateCheck) -> None:
        super().__init__(
            f"Not promoting `{check.candidate}`: it must not be worse than `{check.current}`, which "
            f"answers now.\n{check.text()}\nAn admin can override with `force:yes` "
            "(recorded with who and why; add `reason:why`)."
        )
        self.check = check


class ModelChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int = 0
    action: ModelAction
    model: str
    changed_by: str
    created_at: str
    job_id: str | None = None
    evaluation_id: int | None = None
    headline: str | None = None
    forced: bool = False
    reason: str | None = None
    channel: str | None = None


class Promotions:
    def __init__(
        self,
        db: Database,
        router: ModelRouter,
        jobs: JobService,
        *,
        default_model: str,
        admins: frozenset[str],
        gate: PromotionGate | None = None,
        serving: Callable[[JobView], Awaitable[str]] | None = None,
    ) -> None:
        # The name a job's model answers by (for Together, its dedicated endpoint's name).
        self._serving = serving
        self._db = db
        self._router = router
        self._jobs = jobs
        self._default = default_model
        self._admins = admins
        self._gate = gate

    @property
    def default_model(self) -> str:
        return self._default

    async def current(self) -> str:
        stack = _stack(await model_rows.history(self._db))
        return stack[-1] if stack else self._default

    async def history(self) -> list[ModelChange]:
        return [
            ModelChange(**asdict(row), headline=await self._headline(row.evaluation_id))
            for row in await model_rows.history(self._db)
        ]

    async def promote(
        self, target: str, *, user: str, force: bool = False, reason: str | None = None, channel: str | None = None
    ) -> ModelChange:
        """Through the gate; `force` promotes past a refusal and records who forced it, why, and the numbers."""
        require_admin(user, self._admins, "promote models")
        model, job = await self._resolve(target)
        job_id = job.id if job else None
        current = await self.current()
        if model == current:
            raise TuningError(f"Tuneloop already answers with `{model}`.")
        check = await self._check(model, current, job)
        if check is not None and not check.passed and not force:
            raise PromotionRefused(check)
        await self._router.ping(model)
        evaluation = await evaluation_rows.latest_for(self._db, model)
        evaluation_id = (
            check.evaluation_id if check and check.evaluation_id else (evaluation.id if evaluation else None)
        )
        overridden = check is not None and not check.passed
        record = "\n".join([reason or "no reason given", check.text()]) if overridden and check else reason
        await model_rows.record_change(
            self._db,
            action="promote",
            model=model,
            changed_by=user,
            job_id=job_id,
            evaluation_id=evaluation_id,
            forced=overridden,
            reason=record,
            channel=channel,
        )
        return (await self.history())[-1]

    async def check(self, target: str) -> GateCheck | None:
        """What the gate says of promoting `target` now (None without a gate)."""
        model, job = await self._resolve(target)
        return await self._check(model, await self.current(), job)

    async def _check(self, model: str, current: str, job: JobView | None) -> GateCheck | None:
        if self._gate is None:
            return None
        return await self._gate.check(model, current, trained_on=job.dataset if job else None)

    async def fall_back(self, gone: str, *, error: str) -> ModelChange | None:
        """`gone` no longer exists at its provider: answer with the model promoted before it, or the default.

        None when `gone` is not the answering model (someone already switched) or nothing is left to fall to.
        """
        stack = _stack(await model_rows.history(self._db))
        if not stack or stack[-1] != gone:
            return None
        previous = stack[-2] if len(stack) > 1 else self._default
        await model_rows.record_change(
            self._db,
            action="fallback",
            model=previous,
            changed_by="tuneloop",
            job_id=None,
            evaluation_id=None,
            reason=error,
        )
        return (await self.history())[-1]

    async def rollback(self, *, user: str) -> ModelChange:
        require_admin(user, self._admins, "roll back the answering model")
        stack = _stack(await model_rows.history(self._db))
        if not stack:
            raise TuningError(f"Nothing to roll back: Tuneloop answers with its default model `{self._default}`.")
        previous = stack[-2] if len(stack) > 1 else self._default
        await model_rows.record_change(
            self._db, action="rollback", model=previous, changed_by=user, job_id=None, evaluation_id=None
        )
        return (await self.history())[-1]

    async def _resolve(self, target: str) -> tuple[str, JobView | None]:
        """A job id (Tuneloop's or the provider's) means its tuned model; anything else is a model name."""
        try:
            job = await self._jobs.find(target)
        except TuningError:
            return target, None
        if job.state != "succeeded" or not job.fine_tuned_model:
            raise TuningError(f"Job `{job.id}` is {job.state}; only a job that succeeded has a model to promote.")
        model = await self._serving(job) if self._serving else job.fine_tuned_model
        return model, job

    async def _headline(self, evaluation_id: int | None) -> str | None:
        if evaluation_id is None:
            return None
        evaluation = await evaluation_rows.get(self._db, evaluation_id)
        if not evaluation or not evaluation.summary:
            return None
        return EvalSummary.model_validate_json(evaluation.summary).headline().text


def _stack(history: list[ModelChangeRow]) -> list[str]:
    """Promotions push, rollbacks and fallbacks pop: what is left on top answers."""
    stack: list[str] = []
    for change in history:
        if change.action == "promote":
            stack.append(change.model)
        elif stack:
            stack.pop()
    return stack
