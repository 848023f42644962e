"""Migration: retrain the dataset version behind the answering model on another back-end, compare, decide.

The new job copies the source job's epochs, batch size, seed and DPO beta; a learning rate is mapped by the
catalogue (OpenAI's multiplier becomes an absolute rate, and the card says how). When the job succeeds it
is evaluated as any job is, as the promotion gate asks (against the model answering then, on the newest
version of the same dataset), and promoting it goes through the gate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from storage import evaluations as evaluation_rows
from storage import lifecycle as lifecycle_rows
from storage.db import Database
from tuning.admin import require_admin
from tuning.catalogue.entries import Catalogue
from tuning.errors import TuningError
from tuning.release.evaluation.service import EvalPlan, Evaluations, summary_of
from tuning.release.gate import GateCheck
from tuning.release.promotion import ModelChange, PromotionRefused, Promotions
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView
from tuning.training.trainers.values import TrainOptions
from tuning.words import command, person

# Copied from the source job, with the words the card says them in.
COPIED = {"batch_size": "batch size", "seed": "seed", "beta": "beta"}


@dataclass(frozen=True)
class MigrationStory:
    """Everything the migration card shows: source, new job, evaluation, decision."""

    source_model: str
    source_job: str | None
    job: JobView
    hyperparameters: list[str]
    channel: str
    card_ts: str | None
    evaluation_id: int | None
    headline: str | None
    gate: str | None
    decision: str | None


class SuccessorMigrations:
    def __init__(
        self,
        db: Database,
        promotions: Promotions,
        jobs: JobService,
        evaluations: Evaluations,
        *,
        catalogue: Callable[[], Catalogue],
        admins: frozenset[str],
    ) -> None:
        self._db = db
        self._promotions = promotions
        self._jobs = jobs
        self._evaluations = evaluations
        self._catalogue = catalogue
        self._admins = admins

    async def start(self, *, to: str | None, model: str | None, user: str, channel: str) -> MigrationStory:
        """The new job, waiting for Start on its card like any training job."""
        require_admin(user, self._admins, "migrate the answering model")
        source = await self._promotions.current()
        source_job_id = await lifecycle_rows.job_of_model(self._db, source)
        if source_job_id is None:
            raise TuningError(
                f"`{source}` answers now, and Tuneloop did not train it, so there is no dataset version "
                f"behind it to retrain. Train one with {command('train DATASET trainer:…')}."
            )
        source_job = await self._jobs.find(source_job_id)
        target = to or next((name for name in self._jobs.trainer_names if name != source_job.trainer), None)
        if target is None or target == source_job.trainer:
            raise TuningError(
                f"`{source}` was trained on `{source_job.trainer}`; name another back-end with `to:` "
                f"(configured: {', '.join(self._jobs.trainer_names)})."
            )
        options, lines = await self._options(source_job, target, model)
        job = await self._jobs.preflight(source_job.dataset, options, user=user, channel=channel)
        await lifecycle_rows.record_migration(
            self._db,
            source_model=source,
            source_job_id=source_job.id,
            job_id=job.id,
            hyperparameters=json.dumps(lines),
            channel=channel,
            user=user,
        )
        return await self.story(job.id)

    async def _options(self, source: JobView, target: str, model: str | None) -> tuple[TrainOptions, list[str]]:
        asked = await self._jobs.options_of(source.id)
        rate, rate_line = self._catalogue().absolute_learning_rate(source.trainer, target, asked.learning_rate)
        copied = asked.model_dump(include=set(COPIED), exclude_none=True)
        options = TrainOptions(trainer=target, model=model, epochs=source.epochs, learning_rate=rate, **copied)
        lines = [f"epochs {source.epochs} (as the source job)"]
        lines += [f"{COPIED[key]} {value} (as the source job)" for key, value in copied.items()]
        return options, [*lines, rate_line]

    async def evaluation_plan(self, job: JobView) -> EvalPlan | None:
        """For a migration's job: the evaluation the promotion gate asks for (see `Evaluations.gate_dataset`)."""
        if await lifecycle_rows.migration_for_job(self._db, job.id) is None:
            return None
        return await self._evaluations.plan_for_job(job)

    async def evaluated(self, job_id: str, evaluation_id: int) -> GateCheck | None:
        check = await self._promotions.check(job_id)
        await lifecycle_rows.set_migration(
            self._db,
            job_id,
            evaluation_id=evaluation_id,
            gate="passes" if check is None or check.passed else check.text(),
        )
        return check

    async def promote(self, job_id: str, *, user: str) -> ModelChange:
        """Through the gate; the decision (promoted, or refused with why) is kept for the card."""
        require_admin(user, self._admins, "promote models")
        story = await self.story(job_id)
        try:
            change = await self._promotions.promote(job_id, user=user, channel=story.channel)
        except PromotionRefused as refused:
            await lifecycle_rows.set_migration(
                self._db, job_id, decision=f"refused by the gate for {person(user)}", gate=refused.check.text()
            )
            raise
        await lifecycle_rows.set_migration(self._db, job_id, decision=f"promoted by {person(user)}")
        return change

    async def card_posted(self, job_id: str, ts: str) -> None:
        await lifecycle_rows.set_migration(self._db, job_id, card_ts=ts)

    async def story(self, job_id: str) -> MigrationStory:
        row = await lifecycle_rows.migration_for_job(self._db, job_id)
        if row is None:
            raise TuningError(f"Job `{job_id}` is not a migration.")
        return MigrationStory(
            source_model=row.source_model,
            source_job=row.source_job_id,
            job=await self._jobs.find(job_id),
            hyperparameters=json.loads(row.hyperparameters),
            channel=row.channel,
            card_ts=row.card_ts,
            evaluation_id=row.evaluation_id,
            headline=await self._headline(row.evaluation_id),
            gate=row.gate,
            decision=row.decision,
        )

    async def _headline(self, evaluation_id: int | None) -> str | None:
        evaluation = await evaluation_rows.get(self._db, evaluation_id) if evaluation_id else None
        summary = summary_of(evaluation) if evaluation else None
        return summary.headline().text if summary else None
