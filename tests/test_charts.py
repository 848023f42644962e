from dataclasses import dataclass
from io import BytesIO

import pytest
from matplotlib.figure import Figure
from PIL import Image

from render import charts
from render.charts import eval_chart, loss_curve, no_data_png
from tuning.release.evaluation.results import ClassScore, EvalSummary, JudgeSummary, ModelMetrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decoded(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(BytesIO(png))
    image.load()  # decodes every pixel: a truncated or corrupt file raises here
    return image


def free_text_summary(*, judged: bool = True) -> EvalSummary:
    judge = (
        JudgeSummary(
            model="gpt-4.1", wins=30, ties=10, losses=10, win_rate=0.7, win_rate_low=0.565, win_rate_high=0.808
        )
        if judged
        else None
    )
    return EvalSummary(
        candidate_model="ft:gpt-4.1-mini-2025-04-14:acme:tuneloop:abc123",
        baseline_model="gpt-4.1-mini-2025-04-14",
        items=50,
        candidate=ModelMetrics(
            model="ft:gpt-4.1-mini-2025-04-14:acme:tuneloop:abc123",
            answered=50,
            exact_match=0.2,
            token_f1=0.61,
            cost_per_1k_usd=1.25,
        ),
        baseline=ModelMetrics(model="gpt-4.1-mini-2025-04-14", answered=50, exact_match=0.1, token_f1=0.48),
        judge=judge,
    )


def label_summary() -> EvalSummary:
    classes = [ClassScore(label="yes", precision=0.8, recall=1.0, f1=0.89, support=4)]
    return EvalSummary(
        candidate_model="tuned",
        items=8,
        task="labels",
        labels=["no", "yes"],
        candidate=ModelMetrics(
            model="tuned", answered=8, accuracy=0.75, macro_f1=None, exact_match=0.75, token_f1=0.75, classes=classes
        ),
    )


def test_eval_chart_is_a_png_of_the_expected_size() -> None:
    image = decoded(eval_chart(free_text_summary()))
    assert image.size == (1000, 450)


def test_eval_chart_without_judge_or_baseline_still_draws() -> None:
    assert decoded(eval_chart(free_text_summary(judged=False))).size == (1000, 450)
    assert decoded(eval_chart(label_summary())).size == (1000, 450)  # one model, a missing score shown as n/a


def test_an_evaluation_with_nothing_answered_is_a_no_data_image() -> None:
    empty = EvalSummary(candidate_model="m", items=0, candidate=ModelMetrics(model="m"))
    png = eval_chart(empty)
    assert decoded(png).size == (1000, 450)
    assert png == no_data_png("Evaluation", "No item was answered, so there is nothing to chart.")
    assert png != eval_chart(free_text_summary())


@dataclass
class MetricPoint:
    step: int
    train_loss: float | None
    valid_loss: float | None


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the charts render, to read back what was plotted."""
    figures: list[Figure] = []
    render_png = charts._png

    def keep(figure: Figure) -> bytes:
        figures.append(figure)
        return render_png(figure)

    monkeypatch.setattr(charts, "_png", keep)
    return figures


def plotted(figure: Figure) -> dict[str, list[tuple[float, float]]]:
    return {
        line.get_label(): list(zip(line.get_xdata(), line.get_ydata(), strict=True))
        for line in figure.axes[0].get_lines()
    }


def test_loss_curve_takes_objects_or_dicts_with_gaps(drawn: list[Figure]) -> None:
    points = [MetricPoint(step, 2.0 * 0.8**step, None if step % 3 else 2.1 * 0.8**step) for step in range(1, 30)]
    assert decoded(loss_curve(points)).size == (1000, 450)
    lines = plotted(drawn[-1])
    assert lines["train"] == [(p.step, p.train_loss) for p in points]
    assert lines["validation"] == [(p.step, p.valid_loss) for p in points if p.valid_loss is not None]  # the gaps
    as_dicts = [{"step": p.step, "train_loss": p.train_loss} for p in reversed(points)]  # unsorted, no valid_loss key
    assert decoded(loss_curve(as_dicts)).size == (1000, 450)
    assert plotted(drawn[-1]) == {"train": lines["train"]}  # in step order, and no validation line at all


@pytest.mark.parametrize("points", [[], [{"step": 1, "train_loss": None, "valid_loss": None}]])
def test_a_curve_without_losses_is_a_no_data_image(points: list[dict[str, object]]) -> None:
    png = loss_curve(points)
    assert decoded(png).size == (1000, 450)
    assert png == no_data_png("Training loss", "No loss has been reported yet.")
