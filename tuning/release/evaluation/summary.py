"""From per-item results to the aggregate: each model is scored on the items it answered."""

from __future__ import annotations

from collections.abc import Sequence

from tuning.release.evaluation.cost import PriceLookup, cost_per_thousand, no_prices
from tuning.release.evaluation.judge import summarise_judgements
from tuning.release.evaluation.metrics import label_scores, mean, normalize_label, percentile
from tuning.release.evaluation.results import EvalSummary, ItemResult, ModelAnswer, ModelMetrics


def model_metrics(
    model: str,
    answers: Sequence[ModelAnswer],
    references: Sequence[str],
    *,
    labels: bool,
    prices: PriceLookup = no_prices,
) -> ModelMetrics:
    """`answers[i]` answers `references[i]`. Failed calls are counted, never scored as wrong."""
    scored = [(answer, reference) for answer, reference in zip(answers, references, strict=True) if answer.ok]
    done = [answer for answer, _ in scored]
    latencies = [float(a.latency_ms) for a in done if a.latency_ms is not None]
    outputs = [float(a.completion_tokens) for a in done if a.completion_tokens is not None]
    inputs = [float(a.prompt_tokens) for a in done if a.prompt_tokens is not None]
    table = (
        label_scores([(normalize_label(ref), normalize_label(a.text or "")) for a, ref in scored]) if labels else None
    )
    return ModelMetrics(
        model=model,
        answered=len(done),
        failed=len(answers) - len(done),
        exact_match=mean([a.exact_match for a in done if a.exact_match is not None]),
        token_f1=mean([a.token_f1 for a in done if a.token_f1 is not None]),
        accuracy=table.accuracy if table else None,
        macro_f1=table.macro_f1 if table else None,
        classes=table.classes if table else [],
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        mean_output_tokens=mean(outputs),
        cost_per_1k_usd=cost_per_thousand(prices(model), mean(inputs), mean(outputs)),
    )


def summarise(
    results: Sequence[ItemResult],
    *,
    candidate: str,
    baseline: str | None,
    judge_model: str | None,
    labels: list[str] | None,
    prices: PriceLookup = no_prices,
) -> EvalSummary:
    references = [result.reference for result in results]

    def metrics_of(model: str, answers: list[ModelAnswer]) -> ModelMetrics:
        return model_metrics(model, answers, references, labels=labels is not None, prices=prices)

    baseline_answers = [r.baseline for r in results if r.baseline is not None]
    return EvalSummary(
        candidate_model=candidate,
        baseline_model=baseline,
        items=len(results),
        failed_items=sum(result.failed for result in results),
        task="labels" if labels is not None else "free_text",
        labels=labels or [],
        candidate=metrics_of(candidate, [result.candidate for result in results]),
        baseline=metrics_of(baseline, baseline_answers) if baseline is not None else None,
        judge=summarise_judgements(judge_model, [r.judge for r in results]) if judge_model else None,
    )
