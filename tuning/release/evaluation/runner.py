"""Run a candidate (and optionally a baseline) on every item, judge the pairs, and summarise.

Concurrency: one semaphore of `concurrency` slots is shared by every call, candidate, baseline and
judge alike, so no more than `concurrency` requests are ever in flight. As many item workers as
slots keep it full: each item wants two calls at a time (candidate and baseline, then the judge's
two orders), so the slots, not the workers, are the bottleneck.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from tuning import telemetry
from tuning.errors import TuningError
from tuning.release.evaluation.clients import ChatLike, Clients, Limited, client_for
from tuning.release.evaluation.cost import PriceLookup, no_prices
from tuning.release.evaluation.judge import PairwiseJudge
from tuning.release.evaluation.metrics import exact_match, label_set, normalize_label, token_f1
from tuning.release.evaluation.results import EvalItem, EvalResult, ItemResult, ModelAnswer
from tuning.release.evaluation.summary import summarise

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
# An evaluated answer stops here: a rambling model would otherwise write up to its server's limit on every item
# (time, and money on a paid API). Team answers are far shorter; one cut short still scores, just lower.
ANSWER_MAX_TOKENS = 1024

Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class _Plan:
    candidate: str
    baseline: str | None
    clients: dict[str, ChatLike]
    judge: PairwiseJudge | None
    labels: frozenset[str] | None


async def evaluate(
    items: Sequence[EvalItem],
    *,
    candidate: str,
    clients: Clients,
    baseline: str | None = None,
    judge_model: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Progress | None = None,
    prices: PriceLookup = no_prices,
) -> EvalResult:
    """Evaluate `candidate` against the references (and against `baseline` when given).

    The judge runs only with a baseline and only on free-text tasks: a label is simply right or
    wrong. `on_progress(done, total)` is awaited after every item; the caller throttles it.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    plan = _plan(items, candidate, baseline, judge_model, clients, asyncio.Semaphore(concurrency))
    results: list[ItemResult | None] = [None] * len(items)
    pending = iter(enumerate(items))
    counter = _Counter(len(items), on_progress)
    async with asyncio.TaskGroup() as workers:
        for _ in range(min(concurrency, len(items))):
            workers.create_task(_work(plan, pending, results, counter))
    done = [result for result in results if result is not None]
    summary = summarise(
        done,
        candidate=candidate,
        baseline=baseline,
        judge_model=plan.judge.model if plan.judge else None,
        labels=sorted(plan.labels) if plan.labels is not None else None,
        prices=prices,
    )
    return EvalResult(summary=summary, items=done)


def _plan(
    items: Sequence[EvalItem],
    candidate: str,
    baseline: str | None,
    judge_model: str | None,
    clients: Clients,
    slots: asyncio.Semaphore,
) -> _Plan:
    """Resolve every client before the first call, so a missing one fails the run at once."""
    labels = label_set([item.reference for item in items])
    models = [candidate] + ([baseline] if baseline else [])
    limited: dict[str, ChatLike] = {model: Limited(client_for(clients, model), slots) for model in models}
    judge = None
    if judge_model and baseline and labels is None:
        judge = PairwiseJudge(judge_model, Limited(client_for(clients, judge_model), slots))
    return _Plan(candidate, baseline, limited, judge, frozenset(labels) if labels is not None else None)


class _Counter:
    def __init__(self, total: int, on_progress: Progress | None) -> None:
        self.total, self.done = total, 0
        self._on_progress = on_progress

    async def tick(self) -> None:
        self.done += 1
        if self._on_progress is None:
            return
        try:
            await self._on_progress(self.done, self.total)
        except Exception:  # a progress message that fails to post must not lose the evaluation
            log.warning("evaluation progress callback failed", exc_info=True)


async def _work(
    plan: _Plan, pending: Iterator[tuple[int, EvalItem]], results: list[ItemResult | None], counter: _Counter
) -> None:
    # Workers share one iterator; asyncio switches tasks only at awaits, so each item is taken once.
    for index, item in pending:
        with telemetry.evaluation_item_span(item_id=item.id, candidate=plan.candidate, baseline=plan.baseline):
            results[index] = await _evaluate_item(plan, item)
        await counter.tick()


async def _evaluate_item(plan: _Plan, item: EvalItem) -> ItemResult:
    if plan.baseline is None:
        return ItemResult(
            item_id=item.id, reference=item.reference, candidate=await _answer(plan, plan.candidate, item)
        )
    candidate, baseline = await asyncio.gather(_answer(plan, plan.candidate, item), _answer(plan, plan.baseline, item))
    result = ItemResult(item_id=item.id, reference=item.reference, candidate=candidate, baseline=baseline)
    if plan.judge is None or not (candidate.ok and baseline.ok):
        return result
    try:
        outcome = await plan.judge.compare(item, candidate.text or "", baseline.text or "")
    except Exception as error:
        return result.model_copy(update={"judge_error": _error_text(error)})
    return result.model_copy(update={"judge": outcome})


async def _answer(plan: _Plan, model: str, item: EvalItem) -> ModelAnswer:
    try:
        reply = await plan.clients[model].complete(model, item.messages, max_tokens=ANSWER_MAX_TOKENS)
    except Exception as error:
        return ModelAnswer(model=model, error=_error_text(error))
    return ModelAnswer(
        model=model,
        text=reply.text,
        latency_ms=reply.latency_ms,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        exact_match=exact_match(reply.text, item.reference),
        token_f1=token_f1(reply.text, item.reference),
        label_correct=_label_correct(plan, reply.text, item.reference),
    )


def _label_correct(plan: _Plan, answer: str, reference: str) -> bool | None:
    if plan.labels is None:
        return None
    return normalize_label(answer) == normalize_label(reference)


def _error_text(error: Exception) -> str:
    """A TuningError's message is written for people; anything else is a bug, logged with its stack."""
    if isinstance(error, TuningError):
        return str(error)
    log.error("unexpected error during evaluation", exc_info=error)
    return f"Unexpected error ({type(error).__name__})."
