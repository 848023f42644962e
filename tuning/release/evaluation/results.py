"""The values an evaluation produces: per-item results and the aggregate summary.

Pure pydantic: render imports this module to draw charts, so it must not pull in clients or I/O.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Pick = Literal["A", "B", "TIE"]
Verdict = Literal["win", "tie", "loss"]
Task = Literal["labels", "free_text"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class EvalItem(_Value):
    """One question: the conversation up to its last user turn, and the answer the team approved."""

    id: str
    messages: list[dict[str, str]] = Field(min_length=1)
    reference: str

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        # The model must answer the last turn; an item ending with an answer would evaluate nothing.
        if messages[-1].get("role") != "user":
            raise ValueError("an evaluation item's messages must end with a user turn")
        return messages


class ModelAnswer(_Value):
    """One model's answer to one item; `error` is set (and the scores are None) when the call failed."""

    model: str
    text: str | None = None
    error: str | None = None
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    exact_match: float | None = None
    token_f1: float | None = None
    label_correct: bool | None = None  # None unless the references look like labels

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


class JudgeOutcome(_Value):
    """The judge's two readings. `first`: candidate shown as A; `second`: candidate shown as B.

    `verdict` is from the candidate's side: a win or a loss only when both orders agree; a
    disagreement (position bias) or an unparseable reply (`unsure`) is a tie.
    """

    first_reply: str
    second_reply: str
    first: Pick | None
    second: Pick | None
    verdict: Verdict
    disagreed: bool = False
    unsure: bool = False


class ItemResult(_Value):
    item_id: str
    reference: str
    candidate: ModelAnswer
    baseline: ModelAnswer | None = None
    judge: JudgeOutcome | None = None
    judge_error: str | None = None

    @property
    def failed(self) -> bool:
        """A model call failed on this item (a judge failure leaves the item unjudged, not failed)."""
        return not self.candidate.ok or (self.baseline is not None and not self.baseline.ok)


class ClassScore(_Value):
    label: str
    precision: float
    recall: float
    f1: float
    support: int


class ModelMetrics(_Value):
    """One model's aggregate over the items it answered; a score is None when nothing was answered."""

    model: str
    answered: int = 0
    failed: int = 0
    exact_match: float | None = None
    token_f1: float | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    classes: list[ClassScore] = []
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    mean_output_tokens: float | None = None
    cost_per_1k_usd: float | None = None  # None: no price known for this model

    @property
    def cost_text(self) -> str:
        return "n/a" if self.cost_per_1k_usd is None else f"${self.cost_per_1k_usd:,.2f}"


class JudgeSummary(_Value):
    """Counts from the candidate's side. `ties` includes `disagreed` and `unsure`; `win_rate` counts a
    tie as half a win: (wins + ties / 2) / (wins + ties + losses), with a 95 % Wilson interval."""

    model: str
    wins: int = 0
    ties: int = 0
    losses: int = 0
    disagreed: int = 0
    unsure: int = 0
    not_judged: int = 0
    win_rate: float | None = None
    win_rate_low: float | None = None
    win_rate_high: float | None = None

    @property
    def judged(self) -> int:
        return self.wins + self.ties + self.losses


class HeadlineMetric(_Value):
    name: str
    candidate: float | None
    baseline: float | None = None


class Headline(_Value):
    metrics: list[HeadlineMetric]
    text: str


class EvalSummary(_Value):
    candidate_model: str
    baseline_model: str | None = None
    items: int
    failed_items: int = 0
    task: Task = "free_text"
    labels: list[str] = []
    candidate: ModelMetrics
    baseline: ModelMetrics | None = None
    judge: JudgeSummary | None = None
    memory: bool | None = None  # whether the models were given team memory (None: evaluated before memory existed)

    def headline(self) -> Headline:
        """Accuracy and macro-F1 for label tasks; token F1 and the judge's win rate for free text."""
        metrics = self._label_headline() if self.task == "labels" else self._free_text_headline()
        return Headline(metrics=metrics, text=self._headline_text(metrics))

    def _label_headline(self) -> list[HeadlineMetric]:
        return [
            HeadlineMetric(name="accuracy", candidate=self.candidate.accuracy, baseline=self._baseline("accuracy")),
            HeadlineMetric(name="macro-F1", candidate=self.candidate.macro_f1, baseline=self._baseline("macro_f1")),
        ]

    def _free_text_headline(self) -> list[HeadlineMetric]:
        metrics = [
            HeadlineMetric(name="token F1", candidate=self.candidate.token_f1, baseline=self._baseline("token_f1"))
        ]
        if self.judge is not None and self.judge.win_rate is not None:
            # The baseline's win rate is the complement: ties count half for each side.
            rate = self.judge.win_rate
            metrics.append(HeadlineMetric(name="win rate", candidate=rate, baseline=1 - rate))
        return metrics

    def _baseline(self, field: str) -> float | None:
        return None if self.baseline is None else getattr(self.baseline, field)

    def _headline_text(self, metrics: list[HeadlineMetric]) -> str:
        parts = [_metric_text(metric, self.baseline is not None) for metric in metrics]
        judge = self.judge
        if judge is not None and judge.win_rate is not None and self.task == "free_text":
            parts[-1] += f" (95% CI {_percent(judge.win_rate_low)}–{_percent(judge.win_rate_high)})"
        if self.failed_items:
            parts.append(f"{self.failed_items} of {self.items} items failed")
        return " · ".join(parts)


class EvalResult(_Value):
    summary: EvalSummary
    items: list[ItemResult]


def _metric_text(metric: HeadlineMetric, with_baseline: bool) -> str:
    show = _percent if metric.name == "win rate" else _score
    if with_baseline:
        return f"{metric.name} {show(metric.candidate)} vs {show(metric.baseline)}"
    return f"{metric.name} {show(metric.candidate)}"


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
