"""The promotion gate: no promotion without evidence that the candidate is not worse than what answers now.

The evidence is a finished evaluation of the candidate against the current answering model on the validation
split of the candidate's own dataset, at its newest version (for a model Tuneloop did not train: the newest
dataset of any name). `Evaluations.gate_dataset` names that dataset, and the automatic evaluation after a
job uses it too, so a fresh job's Promote needs no detour. The gate refuses when

* the judge's win rate has its 95 % Wilson interval entirely below 50 %, or
* a task metric (token F1 and exact match for free text, accuracy for labels) is lower by more than its
  noise: the 95 % interval of the paired per-item difference, mean ± 1.96 × standard error, lies
  entirely below zero. Pairing by item removes the variation between questions, so the interval is the
  noise of the comparison itself (docs/evaluation.md, "The promotion gate").
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from storage import evaluations as evaluation_rows
from storage import lifecycle as lifecycle_rows
from storage.db import Database
from tuning.errors import TuningError
from tuning.release.evaluation.metrics import Z_95
from tuning.release.evaluation.results import EvalSummary, ItemResult, ModelAnswer
from tuning.words import command

Score = Callable[[ModelAnswer], float | None]
_METRICS: dict[str, dict[str, Score]] = {
    "free_text": {"token F1": lambda a: a.token_f1, "exact match": lambda a: a.exact_match},
    "labels": {"accuracy": lambda a: None if a.label_correct is None else float(a.label_correct)},
}


@dataclass(frozen=True)
class Difference:
    """Candidate minus current, averaged over the items both answered, with its 95 % half-width."""

    metric: str
    candidate: float
    current: float
    mean: float
    half_width: float | None  # None below two items: no noise estimate
    items: int

    @property
    def worse_beyond_noise(self) -> bool:
        return self.half_width is not None and self.mean + self.half_width < 0

    def text(self) -> str:
        noise = "no noise estimate" if self.half_width is None else f"noise ±{self.half_width:.3f}"
        return (
            f"{self.metric} {self.candidate:.3f} vs {self.current:.3f} "
            f"(difference {self.mean:+.3f}, {noise}, {self.items} items)"
        )


@dataclass(frozen=True)
class GateCheck:
    candidate: str
    current: str
    dataset: str | None
    evaluation_id: int | None
    reasons: tuple[str, ...]  # why it is refused; empty when it passes
    numbers: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.reasons

    def text(self) -> str:
        lines = [f"• {reason}" for reason in self.reasons] + [f"  {number}" for number in self.numbers]
        return "\n".join(lines)


def paired_difference(metric: str, pairs: Sequence[tuple[float, float]]) -> Difference | None:
    if not pairs:
        return None
    n = len(pairs)
    diffs = [candidate - current for candidate, current in pairs]
    mean = sum(diffs) / n
    half = None
    if n >= 2:
        variance = sum((d - mean) ** 2 for d in diffs) / (n - 1)
        half = Z_95 * math.sqrt(variance / n)
    return Difference(metric, sum(c for c, _ in pairs) / n, sum(b for _, b in pairs) / n, mean, half, n)


def differences(summary: EvalSummary, items: Sequence[ItemResult]) -> list[Difference]:
    found = []
    for name, score in _METRICS[summary.task].items():
        pairs = [(score(i.candidate), score(i.baseline)) for i in items if i.baseline is not None]
        difference = paired_difference(name, [(c, b) for c, b in pairs if c is not None and b is not None])
        if difference is not None:
            found.append(difference)
    return found


def judge_verdict(summary: EvalSummary) -> tuple[str | None, str | None]:
    """(refusal, numbers) from the judge's win rate, when there is one."""
    judge = summary.judge
    if judge is None or judge.win_rate is None or judge.win_rate_low is None or judge.win_rate_high is None:
        return None, None
    numbers = (
        f"judge win rate {judge.win_rate:.0%} (95% CI {judge.win_rate_low:.0%}–{judge.win_rate_high:.0%}, "
        f"{judge.wins} wins, {judge.ties} ties, {judge.losses} losses)"
    )
    refusal = "the judge prefers the current model: the win rate's 95% interval is entirely below 50%"
    return (refusal if judge.win_rate_high < 0.5 else None), numbers


def verdict(summary: EvalSummary, items: Sequence[ItemResult]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Why this evidence refuses a promotion (nothing: it passes), and the numbers behind the decision."""
    refusal, judged = judge_verdict(summary)
    found = differences(summary, items)
    reasons = [refusal] if refusal else []
    reasons += [
        f"{d.metric} is lower than the current model's by more than its noise" for d in found if d.worse_beyond_noise
    ]
    return tuple(reasons), (*(d.text() for d in found), *([judged] if judged else []))


def memory_mode(summary: EvalSummary) -> str:
    """Which answers were compared: with the team's memory (as people get them) or without."""
    return "" if summary.memory is None else f" with team memory {'on' if summary.memory else 'off'}"


def _no_evidence(candidate: str, current: str, dataset: str | None) -> GateCheck:
    where = f"`{dataset}`" if dataset else f"a dataset (build one with {command('dataset build NAME')})"
    run = command(f"eval {candidate} against:{current}" + (f" dataset:{dataset}" if dataset else ""))
    return GateCheck(
        candidate,
        current,
        dataset,
        None,
        (f"there is no evaluation of `{candidate}` against the current model `{current}` on {where}. Run {run}",),
        (),
    )


GateDataset = Callable[[str | None], Awaitable[str]]


class PromotionGate:
    def __init__(self, db: Database, gate_dataset: GateDataset) -> None:
        self._db = db
        self._gate_dataset = gate_dataset

    async def check(self, candidate: str, current: str, *, trained_on: str | None = None) -> GateCheck:
        """The one decision every promotion goes through: find the evidence, then judge it (`verdict`).

        `trained_on`: the dataset version the candidate was trained on, when Tuneloop trained it."""
        dataset = await self._dataset(trained_on)
        evaluation = (
            None
            if dataset is None
            else await lifecycle_rows.latest_comparison(
                self._db, candidate=candidate, baseline=current, dataset=dataset
            )
        )
        if evaluation is None or not evaluation.summary:
            return _no_evidence(candidate, current, dataset)
        summary = EvalSummary.model_validate_json(evaluation.summary)
        items = [
            ItemResult.model_validate_json(raw) for raw in await evaluation_rows.item_results(self._db, evaluation.id)
        ]
        reasons, numbers = verdict(summary, items)
        return GateCheck(
            candidate,
            current,
            dataset,
            evaluation.id,
            reasons,
            (f"evaluation #{evaluation.id} on `{dataset}`{memory_mode(summary)}:", *numbers),
        )

    async def _dataset(self, trained_on: str | None) -> str | None:
        try:
            return await self._gate_dataset(trained_on)
        except TuningError:  # no dataset yet, or it is gone: the refusal says to build one
            return None
