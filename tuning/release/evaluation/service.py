"""Evaluations as Tuneloop runs them: which models, on which held-out examples, stored with their results."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from storage import evaluations as evaluation_rows
from storage.db import Database
from storage.evaluations import EvaluationRow, NewEvaluation
from tuning.answering.memory import Memory, Recall, with_memory
from tuning.answering.routing import ModelRouter
from tuning.errors import NotFound, TuningError
from tuning.release.evaluation.cost import PriceLookup, no_prices
from tuning.release.evaluation.results import EvalItem, EvalResult, EvalSummary
from tuning.release.evaluation.runner import DEFAULT_CONCURRENCY, evaluate
from tuning.training.datasets.service import DatasetService, parse_ref
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView
from tuning.training.trainers.open_models import is_adapter
from tuning.words import command

log = logging.getLogger(__name__)
Progress = Callable[[int, int], Awaitable[None]]
CurrentModel = Callable[[], Awaitable[str]]


class EvalPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    candidate: str
    baseline: str | None
    dataset: str
    items: list[EvalItem]
    job_id: str | None = None
    memory: bool = False  # each item's system prompt carries the team memories it would get in Slack


Serving = Callable[[JobView], Awaitable[str]]


async def _own_name(job: JobView) -> str:
    return str(job.fine_tuned_model)


class Evaluations:
    def __init__(
        self,
        db: Database,
        router: ModelRouter,
        datasets: DatasetService,
        jobs: JobService,
        *,
        current_model: CurrentModel,
        judge_model: str,
        concurrency: int = DEFAULT_CONCURRENCY,
        prices: PriceLookup = no_prices,
        serving: Serving | None = None,
        memory: Memory | None = None,
    ) -> None:
        self._memory = memory
        # The name a job's model answers by (for Together, its dedicated endpoint's name).
        self._serving = serving or _own_name
        self._db = db
        self._router = router
        self._datasets = datasets
        self._jobs = jobs
        self._current_model = current_model
        self._judge_model = judge_model
        self._concurrency = concurrency
        self._prices = prices

    async def plan(
        self, target: str, *, against: str | None = None, dataset: str | None = None, memory: bool | None = None
    ) -> EvalPlan:
        """`base`: the answering model alone; a job: its tuned model against its base; a model: against `against`.
        `memory` (default: as answers get it, the workspace's switch) gives every model the same memories."""
        job = None if target == "base" else await self._job(target)
        if target == "base":
            candidate, baseline = await self._current_model(), against
        elif job is not None:
            if job.state != "succeeded" or not job.fine_tuned_model:
                raise TuningError(f"Job `{job.id}` is {job.state}: there is no tuned model to evaluate yet.")
            candidate, baseline = await self._serving(job), against or job.base_model
            if is_adapter(candidate):  # an adapter on another base answers garbage, or not at all
                await self._router.check_served_base(candidate, job.base_model)
        else:
            candidate, baseline = target, against
        ref = dataset or (job.dataset if job else await self.newest_dataset())
        items = await self._items(ref)
        if memory is None:
            memory = self._memory is not None and await self._memory.enabled()
        if memory:
            items = await self._with_memory(ref, items)
        await self._router.ping(candidate)  # fail in a second, not after hundreds of calls
        if baseline is not None:
            baseline = await self._answering_baseline(baseline, implied=job is not None and against is None)
        return EvalPlan(
            candidate=candidate,
            baseline=baseline,
            dataset=ref,
            items=items,
            job_id=job.id if job else None,
            memory=memory,
        )

    async def _with_memory(self, ref: str, items: list[EvalItem]) -> list[EvalItem]:
        """The items with the memories each would get in its own channel, none from the validation split's threads."""
        if self._memory is None:
            raise TuningError("Team memory is not set up in this process, so `memory:on` cannot be evaluated.")
        members = await self._datasets.members(ref, "validation")
        if len(members) != len(items):
            raise TuningError(f"`{ref}`'s validation file and its members disagree: rebuild the dataset.")
        questions = [next((m["content"] for m in reversed(item.messages) if m["role"] == "user"), "") for item in items]
        recalls = await self._memory.for_evaluation(questions, [member.example_id for member in members])
        return [
            item.model_copy(update={"messages": _with_system(item.messages, recall)})
            for item, recall in zip(items, recalls, strict=True)
        ]

    async def _answering_baseline(self, baseline: str, *, implied: bool) -> str | None:
        """A job's own base may not answer at all (Together serves many bases only on a dedicated
        endpoint): then the tuned model is scored alone rather than not at all. A baseline someone
        asked for must answer."""
        try:
            await self._router.ping(baseline)
        except TuningError:
            if not implied:
                raise
            log.info("the base model %s does not answer; evaluating the tuned model alone", baseline)
            return None
        return baseline

    async def plan_for_job(self, job: JobView) -> EvalPlan:
        """The automatic evaluation after a job: the one the promotion gate asks for."""
        return await self.plan(
            job.id, against=await self._current_model(), dataset=await self.gate_dataset(job.dataset)
        )

    async def gate_dataset(self, trained_on: str | None) -> str:
        """The dataset the promotion gate judges a candidate on: the newest version of the one it was trained
        on (the split rule keeps its training examples out of every version's validation), else the newest."""
        if trained_on is None:
            return await self.newest_dataset()
        name, _ = parse_ref(trained_on)
        return (await self._datasets.show(name)).ref

    async def run(
        self, plan: EvalPlan, *, channel: str | None, user: str | None, on_progress: Progress | None = None
    ) -> tuple[int, EvalResult]:
        evaluation_id = await evaluation_rows.create(
            self._db,
            NewEvaluation(
                candidate=plan.candidate,
                baseline=plan.baseline,
                judge=self._judge_model if plan.baseline else None,
                dataset=plan.dataset,
                job_id=plan.job_id,
                items=len(plan.items),
                channel=channel,
                requested_by=user,
            ),
        )
        try:
            result = await evaluate(
                plan.items,
                candidate=plan.candidate,
                baseline=plan.baseline,
                clients=self._router.client_for,
                judge_model=self._judge_model if plan.baseline else None,
                concurrency=self._concurrency,
                on_progress=on_progress,
                prices=self._prices,
            )
        except Exception as error:
            await evaluation_rows.finish(
                self._db, evaluation_id, state="failed", summary=None, error=repr(error), items=[]
            )
            raise
        result = result.model_copy(update={"summary": result.summary.model_copy(update={"memory": plan.memory})})
        await evaluation_rows.finish(
            self._db,
            evaluation_id,
            state="done",
            summary=result.summary.model_dump_json(),
            error=None,
            items=[(item.item_id, item.model_dump_json()) for item in result.items],
        )
        return evaluation_id, result

    async def _job(self, target: str) -> JobView | None:
        try:
            return await self._jobs.find(target)
        except NotFound:
            return None

    async def newest_dataset(self) -> str:
        versions = await self._datasets.list()
        if not versions:
            raise TuningError(
                f"There is no dataset to evaluate on yet: build one with {command('dataset build NAME')}."
            )
        newest = max(versions, key=lambda version: version.created_at)
        return f"{newest.name}@{newest.version}"

    async def _items(self, ref: str) -> list[EvalItem]:
        summary = await self._datasets.show(ref)
        validation = next((f for f in summary.files if f.split == "validation"), None)
        if validation is None or not validation.lines:
            raise TuningError(
                f"`{summary.ref}` has no validation examples to evaluate on. Build a version with `val:` above 0 "
                "and at least 10 approved examples."
            )
        items = read_items(validation.path)
        if not items:
            raise TuningError(
                f"`{summary.ref}` has no desirable answers in its validation split to compare with: "
                "KTO's undesirable ones are not references. Build a version with more 👍 answers."
            )
        return items


def _with_system(messages: list[dict[str, str]], recall: Recall) -> list[dict[str, str]]:
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": with_memory(messages[0]["content"], recall)}, *messages[1:]]
    return messages


def read_items(path: Path) -> list[EvalItem]:
    """Each validation line as the conversation without its final answer, and that answer as the reference.
    KTO: only desirable answers are references (an undesirable one is what the model should not say)."""
    items = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            if "messages" in record:  # SFT
                messages, reference = record["messages"][:-1], record["messages"][-1]["content"]
            elif "label" in record:  # KTO
                if record["label"] is not True:
                    continue
                messages, reference = record["prompt"], record["completion"][0]["content"]
            else:  # DPO: the preferred answer is the reference
                messages, reference = record["input"]["messages"], record["preferred_output"][0]["content"]
            items.append(EvalItem(id=f"{number:05d}", messages=messages, reference=reference))
    return items


def summary_of(evaluation: EvaluationRow) -> EvalSummary | None:
    return EvalSummary.model_validate_json(evaluation.summary) if evaluation.summary else None
