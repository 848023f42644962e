"""Charts as PNG bytes: an evaluation's scores side by side, and a training loss curve.

Pure: figures are drawn with matplotlib's object API on an Agg canvas and saved to memory. No
pyplot, so no global figure state and no backend switch for the rest of the process, and the
functions are safe to call from worker threads (drawing takes tens of milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from io import BytesIO
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tuning.release.evaluation.results import EvalSummary, JudgeSummary, ModelMetrics

SIZE = (10.0, 4.5)  # inches; at DPI 100 that is 1000 × 450 px, legible in a Slack preview
DPI = 100
CANDIDATE_COLOUR, BASELINE_COLOUR, WIN_COLOUR = "#2e7d32", "#9e9e9e", "#1565c0"
MAX_NAME = 40

# The scores plotted, in order, per task: (label on the axis, ModelMetrics field).
LABEL_TASK_SCORES = [("Accuracy", "accuracy"), ("Macro-F1", "macro_f1"), ("Exact match", "exact_match")]
FREE_TEXT_SCORES = [("Exact match", "exact_match"), ("Token F1", "token_f1")]


def eval_chart(summary: EvalSummary) -> bytes:
    """Grouped bars of both models' scores; beside them the judge's win rate with its 95 % interval."""
    if summary.candidate.answered == 0:
        return no_data_png("Evaluation", "No item was answered, so there is nothing to chart.")
    judge = summary.judge if summary.judge and summary.judge.win_rate is not None else None
    figure = _figure()
    grid = figure.add_gridspec(1, 2, width_ratios=[3, 1]) if judge else figure.add_gridspec(1, 1)
    _score_bars(figure.add_subplot(grid[0, 0]), summary)
    if judge:
        _win_rate_bar(figure.add_subplot(grid[0, 1]), judge)
    figure.suptitle(f"Evaluation on {summary.items} items: {summary.headline().text}", fontsize=11)
    return _png(figure)


def _score_bars(axes: Axes, summary: EvalSummary) -> None:
    scores = LABEL_TASK_SCORES if summary.task == "labels" else FREE_TEXT_SCORES
    models = [(summary.candidate, CANDIDATE_COLOUR, "candidate")]
    if summary.baseline is not None:
        models.append((summary.baseline, BASELINE_COLOUR, "baseline"))
    width = 0.8 / len(models)
    for offset, (metrics, colour, role) in enumerate(models):
        values = [getattr(metrics, field) for _, field in scores]
        positions = [i + (offset - (len(models) - 1) / 2) * width for i in range(len(scores))]
        bars = axes.bar(positions, [v or 0.0 for v in values], width, color=colour, label=_legend(metrics, role))
        axes.bar_label(bars, labels=["n/a" if v is None else f"{v:.2f}" for v in values], padding=2, fontsize=9)
    axes.set_xticks(range(len(scores)), [name for name, _ in scores])
    axes.set_ylim(0, 1.12)
    axes.set_ylabel("Score (0–1)")
    axes.set_title("Scores against the approved answers")
    axes.legend(loc="upper left", fontsize=8, frameon=False)


def _win_rate_bar(axes: Axes, judge: JudgeSummary) -> None:
    rate, low, high = judge.win_rate or 0.0, judge.win_rate_low or 0.0, judge.win_rate_high or 0.0
    axes.bar([0], [rate], 0.5, color=WIN_COLOUR, yerr=[[max(0.0, rate - low)], [max(0.0, high - rate)]], capsize=8)
    axes.axhline(0.5, color="black", linestyle="--", linewidth=1)
    axes.text(0.3, 0.51, "no difference", fontsize=8, va="bottom")
    axes.set_xticks([0], [f"{judge.wins} W · {judge.ties} T · {judge.losses} L"])
    axes.set_xlim(-0.6, 0.9)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("Candidate win rate (ties count half)")
    axes.set_title(f"Judge: {rate:.0%} (95% CI {low:.0%}–{high:.0%})", fontsize=10)


def _legend(metrics: ModelMetrics, role: str) -> str:
    return f"{role}: {_short(metrics.model)} (cost per 1k answers: {metrics.cost_text})"


def loss_curve(points: Iterable[Any]) -> bytes:
    """Train and validation loss by step. A point is any object with `step`, `train_loss` and
    `valid_loss` attributes, or a dict with those keys; a missing or None loss is skipped."""
    rows = sorted((_field(p, "step"), _field(p, "train_loss"), _field(p, "valid_loss")) for p in points)
    train = [(step, loss) for step, loss, _ in rows if step is not None and loss is not None]
    valid = [(step, loss) for step, _, loss in rows if step is not None and loss is not None]
    if not train and not valid:
        return no_data_png("Training loss", "No loss has been reported yet.")
    figure = _figure()
    axes = figure.add_subplot()
    for series, label, colour in ((train, "train", CANDIDATE_COLOUR), (valid, "validation", WIN_COLOUR)):
        if series:
            axes.plot(*zip(*series, strict=True), label=label, color=colour, marker="." if len(series) < 50 else None)
    axes.set_title("Training loss")
    axes.set_xlabel("Step")
    axes.set_ylabel("Loss")
    axes.grid(alpha=0.3)
    axes.legend(frameon=False)
    return _png(figure)


def _field(point: Any, name: str) -> Any:
    return point.get(name) if isinstance(point, Mapping) else getattr(point, name, None)


def no_data_png(title: str, message: str) -> bytes:
    """A chart-sized image that says there is nothing to show, instead of failing."""
    figure = _figure()
    figure.text(0.5, 0.6, title, ha="center", va="center", fontsize=16)
    figure.text(0.5, 0.45, message, ha="center", va="center", fontsize=11, color="#555555")
    return _png(figure)


def _figure() -> Figure:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"
